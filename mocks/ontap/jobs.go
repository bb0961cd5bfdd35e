package ontap

import (
	"net/http"
	"strconv"
	"time"
)

// job is an asynchronous operation: queued, then running until doneAt, then success or
// failure. Terminal jobs are purged jobRetention after they end, as ONTAP does.
type job struct {
	uuid, description string
	state             string
	message           string
	err               *apiErr
	start, end        time.Time
	doneAt            time.Time
	effect            func() *apiErr
}

const jobRetention = 300 * time.Second

func (j *job) record(c *Cluster) map[string]any {
	rec := map[string]any{
		"uuid": j.uuid, "description": j.description, "state": j.state, "message": j.message,
		"start_time": c.timestamp(j.start), "code": 0,
		"_links": map[string]any{"self": map[string]any{"href": "/api/cluster/jobs/" + j.uuid}},
	}
	if !j.end.IsZero() {
		rec["end_time"] = c.timestamp(j.end)
	}
	if j.err != nil {
		code, _ := strconv.ParseInt(j.err.code, 10, 64)
		rec["code"] = code
		rec["error"] = map[string]any{"code": j.err.code, "message": j.err.message, "target": j.err.target}
	}
	return rec
}

// finish runs the job's effect and records its outcome; callers hold fabric.mu.
func (j *job) finish(now time.Time) {
	j.end = now
	if e := j.effect(); e != nil {
		j.state, j.err, j.message = "failure", e, e.message
		return
	}
	j.state, j.message = "success", "success"
}

// async starts a job that applies effect, and answers as ONTAP does: when return_timeout
// covers the job's duration, the job ends within the call and the answer is 200 (201 for a
// create) with the job link, or the job's error; otherwise 202 with the job link, and the job
// ends when the simulated clock reaches it. Callers hold fabric.mu.
func (c *Cluster) async(r *request, effect func() *apiErr) response {
	f := c.fabric
	if r.jobFault != nil {
		// The job starts, then fails as the fault says, having done nothing.
		ft := r.jobFault
		effect = func() *apiErr { return ft.apiErr() }
	}
	j := &job{
		uuid: f.newUUID(), description: r.Method + " " + r.URL.Path, state: "running",
		start: r.now, doneAt: r.now.Add(f.opts.JobDuration), effect: effect,
	}
	c.jobs[j.uuid] = j
	link := map[string]any{"job": map[string]any{
		"uuid": j.uuid, "_links": map[string]any{"self": map[string]any{"href": "/api/cluster/jobs/" + j.uuid}},
	}}
	timeout, _ := strconv.Atoi(r.query.Get("return_timeout"))
	if time.Duration(timeout)*time.Second < f.opts.JobDuration {
		c.running = append(c.running, j)
	} else {
		j.finish(r.now)
		if timeout == 0 {
			// An instant job still answers 202: the client asked not to wait.
			return response{status: http.StatusAccepted, body: link}
		}
		if j.err != nil {
			return fail(j.err)
		}
		status := http.StatusOK
		if r.Method == http.MethodPost {
			status = http.StatusCreated
		}
		return response{status: status, body: link}
	}
	return response{status: http.StatusAccepted, body: link}
}

func (c *Cluster) getJob(r *request) response {
	j := c.jobs[r.vars["uuid"]]
	if j == nil {
		return fail(errNotFound("uuid"))
	}
	return ok(j.record(c))
}

// tick brings every cluster up to the simulated clock: jobs that are due end, transfers that
// are due complete, scheduled updates start, and old jobs are purged. It runs on every request,
// so it only looks at what may be due: running jobs, active transfers, and schedules once per
// simulated minute. Callers hold f.mu.
func (f *Fabric) tick() {
	now := f.clock.now()
	for _, c := range f.sortedClusters() {
		running := c.running[:0]
		for _, j := range c.running {
			if j.state != "running" {
				continue
			}
			if now.Before(j.doneAt) {
				running = append(running, j)
				continue
			}
			j.finish(j.doneAt)
		}
		c.running = running
		if now.Sub(c.lastPurge) > jobRetention/10 {
			for id, j := range c.jobs {
				if !j.end.IsZero() && now.Sub(j.end) > jobRetention {
					delete(c.jobs, id)
				}
			}
			c.lastPurge = now
		}
	}
	f.progressTransfers(now)
	if minute := now.Truncate(time.Minute); minute.After(f.lastScheduleMinute) {
		f.runSchedules(now)
		f.lastScheduleMinute = minute
	}
}
