package ontap

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-openapi/runtime"

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

// GetJob returns the job's current state: from the job watcher when it saw the job end, else
// from ONTAP. Jobs are purged some minutes after they end; then GetJob returns an error
// matching ErrNotFound.
func (c *Client) GetJob(ctx context.Context, uuid string) (*Job, error) {
	if j := c.jobs.endedJob(uuid); j != nil {
		return j, nil
	}
	resp, err := c.api.Cluster.JobGetContext(ctx, cluster.NewJobGetParams().WithUUID(uuid).WithFields(jobFields), nil)
	if err != nil {
		return nil, fmt.Errorf("get job %s: %w", uuid, apiError(err))
	}
	return jobFromModel(resp.Payload), nil
}

// WaitJob waits, through the job watcher, until the job ends or ctx is done. It returns nil on
// success, the job's *APIError on failure, the error of the watcher's look at the job (a
// purged job matches ErrNotFound), and ctx's error when ctx ends first. A nil job is done.
func (c *Client) WaitJob(ctx context.Context, job *Job) error {
	if job == nil {
		return nil
	}
	if !job.Done() {
		type seen struct {
			job *Job
			err error
		}
		ended := make(chan seen, 1)
		c.jobs.watch(job.UUID, func(j *Job, err error) { ended <- seen{j, err} })
		select {
		case s := <-ended:
			if s.err != nil {
				return s.err
			}
			job = s.job
		case <-ctx.Done():
			return fmt.Errorf("wait for job %s: %w", job.UUID, ctx.Err())
		}
	}
	if job.State == JobFailure {
		return job.Err
	}
	return nil
}

// NotifyJob calls done once the job watcher saw the job end, or failed to look at it; GetJob
// then answers from what the watcher saw, without a call. For callers that follow jobs across
// passes instead of waiting.
func (c *Client) NotifyJob(uuid string, done func()) {
	c.jobs.watch(uuid, func(*Job, error) { done() })
}

// jobWatch follows every job that a caller waits for with one list call per interval for up
// to jobsPerList jobs (GET /cluster/jobs?uuid=a|b|...), instead of a GET per job and caller:
// the cost of following jobs is then a few calls a second, however many relationships fail
// over at once. It runs while there is a job to follow.
type jobWatch struct {
	c        *Client
	interval time.Duration

	mu      sync.Mutex
	waiting map[string][]func(*Job, error)
	// ended keeps what the watcher saw of ended jobs for endedFor, for GetJob.
	ended   map[string]seenEnded
	running bool
}

type seenEnded struct {
	job *Job
	at  time.Time
}

const (
	// jobsPerList keeps a list call's URL short: 100 UUIDs of 36 characters and their
	// separators are under 4 KB.
	jobsPerList = 100
	// endedFor is how long GetJob answers from what the watcher saw.
	endedFor = time.Minute
)

// watch adds a caller's function for a job; each is called once, outside the lock.
func (w *jobWatch) watch(uuid string, f func(*Job, error)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.waiting == nil {
		w.waiting, w.ended = map[string][]func(*Job, error){}, map[string]seenEnded{}
	}
	w.waiting[uuid] = append(w.waiting[uuid], f)
	if !w.running {
		w.running = true
		go w.run()
	}
}

func (w *jobWatch) endedJob(uuid string) *Job {
	w.mu.Lock()
	defer w.mu.Unlock()
	if e, ok := w.ended[uuid]; ok {
		j := *e.job
		return &j
	}
	return nil
}

// run looks at the jobs every interval, all lists of a round at once, until none is left to
// follow and what it saw of ended ones has expired.
func (w *jobWatch) run() {
	for {
		time.Sleep(w.interval)
		w.mu.Lock()
		for uuid, e := range w.ended {
			if time.Since(e.at) > endedFor {
				delete(w.ended, uuid)
			}
		}
		uuids := slices.Sorted(maps.Keys(w.waiting))
		if len(uuids) == 0 && len(w.ended) == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
		var wg sync.WaitGroup
		for batch := range slices.Chunk(uuids, jobsPerList) {
			wg.Go(func() {
				jobs, err := w.c.listJobs(context.Background(), batch)
				w.deliver(batch, jobs, err)
			})
		}
		wg.Wait()
	}
}

// deliver calls the functions of the batch's jobs that ended, of those that are gone, and of
// all of them when the list failed.
func (w *jobWatch) deliver(batch []string, jobs map[string]*Job, listErr error) {
	type call struct {
		fs  []func(*Job, error)
		job *Job
		err error
	}
	var calls []call
	w.mu.Lock()
	for _, uuid := range batch {
		j, found := jobs[uuid]
		var err error
		switch {
		case listErr != nil:
			err = listErr
		case !found:
			err = fmt.Errorf("get job %s: %w", uuid, ErrNotFound)
		case !j.Done():
			continue
		default:
			w.ended[uuid] = seenEnded{job: j, at: time.Now()}
		}
		calls = append(calls, call{fs: w.waiting[uuid], job: j, err: err})
		delete(w.waiting, uuid)
	}
	w.mu.Unlock()
	for _, c := range calls {
		for _, f := range c.fs {
			f(c.job, c.err)
		}
	}
}

// listJobs reads the jobs of the UUIDs given, by UUID; a purged job is absent.
func (c *Client) listJobs(ctx context.Context, uuids []string) (map[string]*Job, error) {
	filter := strings.Join(uuids, "|")
	params := cluster.NewJobCollectionGetParams().WithUUID(&filter).WithFields(jobFields)
	jobs, err := listAll(func(o ...func(*runtime.ClientOperation)) ([]*models.Job, *models.CollectionLinks, error) {
		resp, err := c.api.Cluster.JobCollectionGetContext(ctx, params, nil, opts[cluster.ClientOption](o)...)
		if err != nil {
			return nil, nil, err
		}
		return resp.Payload.Records, resp.Payload.Links, nil
	}, infallible(jobFromModel))
	if err != nil {
		return nil, fmt.Errorf("list %d jobs: %w", len(uuids), err)
	}
	out := make(map[string]*Job, len(jobs))
	for _, j := range jobs {
		out[j.UUID] = j
	}
	return out, nil
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
