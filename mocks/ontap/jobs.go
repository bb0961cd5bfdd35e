package ontap

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
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
	runAt, doneAt     time.Time
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

// async starts a job that applies effect, and answers as ONTAP does. The job is queued for
// JobDurations.Queued, then runs for its kind's duration, then ends. A job that takes no time
// ends within the call. Otherwise, when the clock runs and return_timeout covers the job, the
// call waits for it (ServeHTTP, awaitJob) and answers 200 (201 for a create) with the job link,
// or the job's error; when it does not, or when the clock is Manual (simulated time does not
// pass during a call, only by Advance, so a call cannot outwait a job), the answer is 202 with
// the job link, and the job ends when the simulated clock reaches it. Callers hold fabric.mu.
func (c *Cluster) async(r *request, effect func() *apiErr) response {
	f := c.fabric
	if r.jobFault != nil {
		// The job starts, then fails as the fault says, having done nothing.
		ft := r.jobFault
		effect = func() *apiErr { return ft.apiErr() }
	}
	queued := f.opts.JobDurations.Queued
	took := queued + f.opts.JobDurations.running(r.op, f.opts.JobDuration)
	j := &job{
		uuid: f.newUUID(), description: r.Method + " " + r.URL.Path, state: "running",
		start: r.now, runAt: r.now.Add(queued), doneAt: r.now.Add(took), effect: effect,
	}
	if queued > 0 {
		j.state = "queued"
	}
	c.work.Jobs++
	c.work.JobSeconds += took.Seconds()
	c.jobs[j.uuid] = j
	r.job = j
	timeout, _ := strconv.Atoi(r.query.Get("return_timeout"))
	switch {
	case took == 0:
		j.finish(r.now)
		if timeout == 0 {
			// An instant job still answers 202: the client asked not to wait.
			return response{status: http.StatusAccepted, body: j.link()}
		}
		return j.answer(r)
	case f.clock.manual || time.Duration(timeout)*time.Second < took:
		c.running = append(c.running, j)
		return response{status: http.StatusAccepted, body: j.link()}
	default:
		c.running = append(c.running, j)
		return response{await: j, body: map[string]any{}}
	}
}

// ended reports whether the job has ended, in success or failure.
func (j *job) ended() bool { return j.state == "success" || j.state == "failure" }

func (j *job) link() map[string]any {
	return map[string]any{"job": map[string]any{
		"uuid": j.uuid, "_links": map[string]any{"self": map[string]any{"href": "/api/cluster/jobs/" + j.uuid}},
	}}
}

// answer is the answer of a call that saw its job end: its error, or 200 (201 for a create)
// with the job link.
func (j *job) answer(r *request) response {
	if j.err != nil {
		return fail(j.err)
	}
	status := http.StatusOK
	if r.Method == http.MethodPost {
		status = http.StatusCreated
	}
	return response{status: status, body: j.link()}
}

// awaitJob holds a call until its job ends, as ONTAP holds a request within return_timeout:
// the clock runs (async answers 202 on a Manual one), so it sleeps the real time the
// simulated rest of the job takes, then looks again. It then answers as async would have.
func (c *Cluster) awaitJob(r *request, resp response) response {
	f := c.fabric
	for {
		f.mu.Lock()
		f.tick()
		j := resp.await
		left := j.doneAt.Sub(f.clock.now())
		if j.ended() {
			f.mu.Unlock()
			out := j.answer(r)
			out.body = mergeRecords(out.body, resp.body)
			return out
		}
		wait := max(f.clock.real(left), time.Millisecond)
		f.mu.Unlock()
		select {
		case <-time.After(wait):
		case <-r.Context().Done():
			return response{status: http.StatusAccepted, body: j.link()}
		}
	}
}

// mergeRecords adds to a job answer what the handler added beside the job link (the records
// of return_records=true).
func mergeRecords(answer, extra any) any {
	a, okA := answer.(map[string]any)
	e, okE := extra.(map[string]any)
	if !okA || !okE {
		return answer
	}
	for k, v := range e {
		if _, set := a[k]; !set {
			a[k] = v
		}
	}
	return a
}

// listJobs answers a collection GET of jobs. ONTAP keeps every job for minutes; a client that
// follows many names them (uuid=a|b|...), and only those are rendered.
func (c *Cluster) listJobs(r *request) response {
	var recs []map[string]any
	add := func(j *job) {
		if j != nil {
			recs = append(recs, j.record(c))
		}
	}
	if want := r.query.Get("uuid"); want != "" && !strings.ContainsAny(want, "*!<>") {
		for _, uuid := range slices.Compact(slices.Sorted(slices.Values(strings.Split(want, "|")))) {
			add(c.jobs[uuid])
		}
	} else {
		for _, j := range c.jobs {
			add(j)
		}
	}
	slices.SortFunc(recs, func(a, b map[string]any) int { return strings.Compare(a["uuid"].(string), b["uuid"].(string)) })
	return ok(recs)
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
		// Due jobs end in the order they are due.
		slices.SortStableFunc(c.running, func(a, b *job) int { return a.doneAt.Compare(b.doneAt) })
		running := c.running[:0]
		for _, j := range c.running {
			if j.state != "queued" && j.state != "running" {
				continue
			}
			if j.state == "queued" && !now.Before(j.runAt) {
				j.state = "running"
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

// Work is the time a cluster spent on asynchronous work since its counters were last reset:
// its jobs, queued and running, and the transfers into it, setup and bytes; each counted in
// full when it starts. Benchmarks compute the floor of a phase from it: no client can make
// ONTAP do that work faster.
type Work struct {
	Jobs             int     `json:"jobs"`
	JobSeconds       float64 `json:"jobSeconds"`
	Transfers        int     `json:"transfers"`
	TransferSeconds  float64 `json:"transferSeconds"`
	TransferredBytes int64   `json:"transferredBytes"`
}

// Work returns the work done since the request counters were last reset.
func (c *Cluster) Work() Work {
	c.fabric.mu.Lock()
	defer c.fabric.mu.Unlock()
	return c.work
}
