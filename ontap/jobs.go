package ontap

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/snapmirror-csi/snapmirror-csi/ontap/rest/client/cluster"
	"github.com/snapmirror-csi/snapmirror-csi/ontap/rest/models"
)

// JobState is the state of an ONTAP job.
type JobState string

// Job states; success and failure are terminal.
const (
	JobQueued  JobState = "queued"
	JobRunning JobState = "running"
	JobPaused  JobState = "paused"
	JobSuccess JobState = "success"
	JobFailure JobState = "failure"
)

// Job is an asynchronous ONTAP operation that had not ended when its request returned.
// Mutations return a nil *Job when the operation ended within the request (return_timeout).
type Job struct {
	UUID    string
	State   JobState
	Message string
	// Err is the job's error once it ended in failure.
	Err *APIError
}

// Done reports whether the job has ended, in success or failure.
func (j *Job) Done() bool { return j.State == JobSuccess || j.State == JobFailure }

var jobFields = []string{"uuid", "state", "message", "code", "error"}

// GetJob returns the job's current state. Jobs are purged some minutes after they end;
// then GetJob returns an error matching ErrNotFound.
func (c *Client) GetJob(ctx context.Context, uuid string) (*Job, error) {
	resp, err := c.api.Cluster.JobGetContext(ctx, cluster.NewJobGetParams().WithUUID(uuid).WithFields(jobFields), nil)
	if err != nil {
		return nil, fmt.Errorf("get job %s: %w", uuid, apiError(err))
	}
	return jobFromModel(resp.Payload), nil
}

// WaitJob polls the job until it ends or ctx is done. It returns nil on success, the
// job's *APIError on failure, and ctx's error when ctx ends first. A nil job is done.
func (c *Client) WaitJob(ctx context.Context, job *Job) error {
	delay := c.jobPoll
	for job != nil {
		if job.Done() {
			if job.State == JobFailure {
				return job.Err
			}
			return nil
		}
		if err := sleepCtx(ctx, delay); err != nil {
			return fmt.Errorf("wait for job %s: %w", job.UUID, err)
		}
		delay = min(2*delay, 2*time.Second)
		next, err := c.GetJob(ctx, job.UUID)
		if err != nil {
			return err
		}
		job = next
	}
	return nil
}

func jobFromModel(m *models.Job) *Job {
	if m == nil {
		return nil
	}
	j := &Job{UUID: m.UUID, State: JobState(m.State), Message: m.Message}
	if j.State == JobFailure {
		j.Err = &APIError{Job: m.UUID, Message: m.Message}
		if m.Code != 0 {
			j.Err.Code = fmt.Sprint(m.Code)
		}
		if m.Error != nil {
			j.Err.Code, j.Err.Message, j.Err.Target = m.Error.Code, m.Error.Message, m.Error.Target
		}
	}
	return j
}

// pending turns the two success answers of an asynchronous operation into the domain's: done
// (nil *Job) when ONTAP answered 200 or 201 within return_timeout, so that accepted is nil, or
// the running job when it answered 202.
func pending[A interface {
	comparable
	GetPayload() *models.JobLinkResponse
}](accepted A) (*Job, error) {
	var none A
	if accepted == none {
		return nil, nil
	}
	if p := accepted.GetPayload(); p != nil && p.Job != nil && p.Job.UUID != "" {
		return &Job{UUID: p.Job.UUID, State: JobRunning}, nil
	}
	return nil, errors.New("ONTAP answered 202 Accepted without a job link")
}
