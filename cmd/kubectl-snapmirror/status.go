package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	tridentv1 "github.com/snapmirror-csi/snapmirror-csi/crds/trident/v1"
)

// Report is what status prints with -o json|yaml: every relationship of the namespace, both
// ends side by side, and the verdict.
type Report struct {
	// Healthy is false when any relationship has a problem; the exit code is then 2.
	Healthy       bool   `json:"healthy"`
	Namespace     string `json:"namespace"`
	Relationships []Pair `json:"relationships"`
}

// Pair is one mirror relationship: this site's TMR and the peer's TMR of the other end.
type Pair struct {
	Name    string `json:"name"`
	Healthy bool   `json:"healthy"`
	// Problems make the pair unhealthy; Notes do not.
	Problems []string `json:"problems,omitempty"`
	Notes    []string `json:"notes,omitempty"`
	Local    End      `json:"local"`
	// Peer is the peer site's TMR whose handles match; nil when there is none or the peer did
	// not answer (PeerError).
	Peer      *End   `json:"peer,omitempty"`
	PeerError string `json:"peerError,omitempty"`
}

// End is one site's TMR, as its status reports it.
type End struct {
	Site               string                `json:"site"`
	Namespace          string                `json:"namespace"`
	TMR                string                `json:"tmr"`
	DesiredState       tridentv1.MirrorState `json:"desiredState"`
	ActualState        tridentv1.MirrorState `json:"actualState,omitempty"`
	Message            string                `json:"message,omitempty"`
	Current            bool                  `json:"observedCurrentSpec"`
	LocalPVC           string                `json:"localPVC,omitempty"`
	LocalVolumeHandle  string                `json:"localVolumeHandle,omitempty"`
	RemoteVolumeHandle string                `json:"remoteVolumeHandle,omitempty"`
	Lag                string                `json:"lag,omitempty"`
	RPO                string                `json:"recoveryPointObjective,omitempty"`
	RPOSource          string                `json:"recoveryPointObjectiveSource,omitempty"`
	RPOStatus          tridentv1.RPOStatus   `json:"rpoStatus,omitempty"`
	Healthy            *bool                 `json:"healthy,omitempty"`
	UnhealthyReason    string                `json:"unhealthyReason,omitempty"`
	LastTransfer       *Transfer             `json:"lastTransfer,omitempty"`
	SplitBrain         *tridentv1.SplitBrain `json:"splitBrain,omitempty"`
	SplitBrainCheck    string                `json:"splitBrainCheck,omitempty"`
	Drift              string                `json:"drift,omitempty"`
	Discarding         *tridentv1.Discarding `json:"discarding,omitempty"`
	PendingUpdates     []string              `json:"pendingUpdates,omitempty"`
	LastUpdate         *Update               `json:"lastUpdate,omitempty"`
	condition          *tridentv1.TridentMirrorRelationshipCondition
	spec               tridentv1.TridentMirrorRelationshipSpec
}

// Transfer is the last SnapMirror transfer.
type Transfer struct {
	Time     string `json:"time,omitempty"`
	Bytes    *int64 `json:"bytes,omitempty"`
	Duration string `json:"duration,omitempty"`
}

// Update is the newest TridentActionMirrorUpdate of a TMR.
type Update struct {
	Name    string                `json:"name"`
	State   tridentv1.ActionState `json:"state"`
	Message string                `json:"message,omitempty"`
}

func newStatusCommand(o *options) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "status [TMR]",
		Short: "Both ends of each mirror relationship side by side, and a health verdict",
		Long: `status shows, for each TridentMirrorRelationship of the namespace (or the one named), this
site's TMR and the peer site's TMR of the other end (matched by volume handles): desired and
actual state, handles, lag, health, last transfer, split brain, drift and pending updates.
It exits 2 when anything is unhealthy: a failed or invalid state, healthy=false, split brain,
drift, or an unreachable peer.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "" && output != "json" && output != "yaml" {
				return fmt.Errorf("-o %s: want json or yaml", output)
			}
			local, err := o.local()
			if err != nil {
				return err
			}
			peer, perr := o.peer(local.namespace)
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			rep, err := gather(cmd.Context(), local, peer, perr, name)
			if err != nil {
				return err
			}
			if err := printReport(o.out, rep, output); err != nil {
				return err
			}
			if !rep.Healthy {
				return &codeError{code: exitUnsafe, err: fmt.Errorf("%s", unhealthySummary(rep))}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "json or yaml; a table when empty")
	return cmd
}

// unhealthySummary names the unhealthy relationships, for stderr.
func unhealthySummary(rep *Report) string {
	var names []string
	for _, p := range rep.Relationships {
		if !p.Healthy {
			names = append(names, p.Name)
		}
	}
	return "unhealthy: " + strings.Join(names, ", ")
}

// siteObjects is what one site holds of the namespace: its TMRs and their updates.
type siteObjects struct {
	tmrs  []tridentv1.TridentMirrorRelationship
	tamus []tridentv1.TridentActionMirrorUpdate
}

func list(ctx context.Context, s *site) (*siteObjects, error) {
	objs := &siteObjects{}
	var tmrs tridentv1.TridentMirrorRelationshipList
	if err := s.c.List(ctx, &tmrs, client.InNamespace(s.namespace)); err != nil {
		return nil, fmt.Errorf("%s: list TridentMirrorRelationships in %s: %w", s.name, s.namespace, err)
	}
	var tamus tridentv1.TridentActionMirrorUpdateList
	if err := s.c.List(ctx, &tamus, client.InNamespace(s.namespace)); err != nil {
		return nil, fmt.Errorf("%s: list TridentActionMirrorUpdates in %s: %w", s.name, s.namespace, err)
	}
	objs.tmrs, objs.tamus = tmrs.Items, tamus.Items
	return objs, nil
}

// gather reads both sites and builds the report. name, when set, keeps one TMR of this site.
// A peer that does not answer is reported in each pair, not returned as an error.
func gather(ctx context.Context, local, peer *site, peerErr error, name string) (*Report, error) {
	here, err := list(ctx, local)
	if err != nil {
		return nil, err
	}
	var there *siteObjects
	if peerErr == nil {
		there, peerErr = list(ctx, peer)
	}
	rep := &Report{Healthy: true, Namespace: local.namespace}
	for i := range here.tmrs {
		t := &here.tmrs[i]
		if name != "" && t.Name != name {
			continue
		}
		p := Pair{Name: t.Name, Local: end(local, t, here.tamus)}
		switch {
		case peerErr == errNoPeer:
			p.Notes = append(p.Notes, "the peer site is not shown: give --peer-context or --peer-kubeconfig")
		case peerErr != nil:
			p.PeerError = peerErr.Error()
		default:
			if pt := matchPeer(t, there.tmrs); pt != nil {
				e := end(peer, pt, there.tamus)
				p.Peer = &e
			}
		}
		assess(&p)
		rep.Healthy = rep.Healthy && p.Healthy
		rep.Relationships = append(rep.Relationships, p)
	}
	if name != "" && len(rep.Relationships) == 0 {
		return nil, fmt.Errorf("%s: TridentMirrorRelationship %s/%s not found", local.name, local.namespace, name)
	}
	return rep, nil
}

// handles are the volume handles a TMR names: its own volume's and the other end's. The
// status has them once the controller looked; before, the spec's remote handle.
func handles(t *tridentv1.TridentMirrorRelationship) (localH, remoteH string) {
	if len(t.Status.Conditions) > 0 {
		localH, remoteH = t.Status.Conditions[0].LocalVolumeHandle, t.Status.Conditions[0].RemoteVolumeHandle
	}
	if remoteH == "" && len(t.Spec.VolumeMappings) > 0 {
		remoteH = t.Spec.VolumeMappings[0].RemoteVolumeHandle
	}
	return localH, remoteH
}

// matchPeer finds the peer TMR of the relationship's other end: the one whose local volume
// this TMR names as remote, or which names this TMR's volume as its remote.
func matchPeer(t *tridentv1.TridentMirrorRelationship, peers []tridentv1.TridentMirrorRelationship) *tridentv1.TridentMirrorRelationship {
	localH, remoteH := handles(t)
	for i := range peers {
		pl, pr := handles(&peers[i])
		if (remoteH != "" && pl == remoteH) || (localH != "" && pr == localH) {
			return &peers[i]
		}
	}
	return nil
}

// end reads one TMR and its updates.
func end(s *site, t *tridentv1.TridentMirrorRelationship, tamus []tridentv1.TridentActionMirrorUpdate) End {
	e := End{Site: s.name, Namespace: t.Namespace, TMR: t.Name, DesiredState: t.Spec.State, spec: t.Spec}
	if len(t.Spec.VolumeMappings) > 0 {
		e.LocalPVC = t.Spec.VolumeMappings[0].LocalPVCName
	}
	e.LocalVolumeHandle, e.RemoteVolumeHandle = handles(t)
	if len(t.Status.Conditions) > 0 {
		c := t.Status.Conditions[0]
		e.condition = &c
		e.ActualState, e.Message, e.Current = c.State, c.Message, c.ObservedGeneration == t.Generation
		if c.Lag != nil {
			e.Lag = c.Lag.Duration.String()
		}
		if c.RecoveryPointObjective != nil {
			e.RPO = c.RecoveryPointObjective.Duration.String()
		}
		e.RPOSource, e.RPOStatus = c.RecoveryPointObjectiveSource, c.RPOStatus
		e.Healthy, e.UnhealthyReason = c.Healthy, c.UnhealthyReason
		if c.LastTransferTime != nil || c.LastTransferBytes != nil {
			e.LastTransfer = &Transfer{Bytes: c.LastTransferBytes}
			if c.LastTransferTime != nil {
				e.LastTransfer.Time = c.LastTransferTime.UTC().Format(time.RFC3339)
			}
			if c.LastTransferDuration != nil {
				e.LastTransfer.Duration = c.LastTransferDuration.Duration.String()
			}
		}
		e.SplitBrain, e.SplitBrainCheck, e.Drift, e.Discarding = c.SplitBrain, c.SplitBrainCheck, c.Drift, c.Discarding
	}
	var newest *tridentv1.TridentActionMirrorUpdate
	for i := range tamus {
		u := &tamus[i]
		if u.Spec.TridentMirrorRelationshipName != t.Name {
			continue
		}
		if u.Status.State != tridentv1.ActionStateSucceeded && u.Status.State != tridentv1.ActionStateFailed {
			state := string(u.Status.State)
			if state == "" {
				state = "not started"
			}
			e.PendingUpdates = append(e.PendingUpdates, u.Name+" ("+state+")")
		}
		if newest == nil || newest.CreationTimestamp.Before(&u.CreationTimestamp) ||
			(newest.CreationTimestamp.Equal(&u.CreationTimestamp) && newest.Name < u.Name) {
			newest = u
		}
	}
	slices.Sort(e.PendingUpdates)
	if newest != nil {
		e.LastUpdate = &Update{Name: newest.Name, State: newest.Status.State, Message: newest.Status.Message}
	}
	return e
}

// assess gives the pair's verdict: what makes it unhealthy (Problems) and what is worth
// knowing (Notes).
func assess(p *Pair) {
	p.Problems = append(p.Problems, endProblems(p.Local.Site, &p.Local)...)
	if p.Peer != nil {
		p.Problems = append(p.Problems, endProblems(p.Peer.Site, p.Peer)...)
	}
	if p.PeerError != "" {
		p.Problems = append(p.Problems, "peer site unreachable: "+p.PeerError)
	}
	if p.Peer == nil && p.PeerError == "" && !slices.ContainsFunc(p.Notes, func(n string) bool { return strings.HasPrefix(n, "the peer site is not shown") }) {
		p.Notes = append(p.Notes, "no TMR on the peer site names this volume, or is named by it")
	}
	for _, e := range []*End{&p.Local, p.Peer} {
		if e == nil {
			continue
		}
		if e.LastUpdate != nil && e.LastUpdate.State == tridentv1.ActionStateFailed {
			p.Notes = append(p.Notes, fmt.Sprintf("%s: the last update %s failed: %s", e.Site, e.LastUpdate.Name, e.LastUpdate.Message))
		}
		if e.RPOStatus == tridentv1.RPOAtRisk {
			p.Notes = append(p.Notes, fmt.Sprintf("%s: recovery point objective at risk: lag %s of %s", e.Site, e.Lag, e.RPO))
		}
		if e.ActualState != "" && !e.Current {
			p.Notes = append(p.Notes, e.Site+": the controller has not acted on the current spec yet")
		}
	}
	p.Healthy = len(p.Problems) == 0
}

// endProblems is what is unhealthy at one end.
func endProblems(where string, e *End) []string {
	var out []string
	switch e.ActualState {
	case tridentv1.MirrorStateFailed, tridentv1.MirrorStateInvalid:
		out = append(out, fmt.Sprintf("%s: state %s: %s", where, e.ActualState, e.Message))
	}
	if e.Healthy != nil && !*e.Healthy {
		out = append(out, fmt.Sprintf("%s: relationship unhealthy: %s", where, orUnknown(e.UnhealthyReason)))
	}
	if sb := e.SplitBrain; sb != nil {
		out = append(out, fmt.Sprintf("%s: split brain: both copies written since snapshot %s (%s here, %s on the other copy)",
			where, sb.CommonSnapshot, bytesText(sb.LocalBytes), bytesText(sb.RemoteBytes)))
	}
	if e.Drift != "" {
		out = append(out, fmt.Sprintf("%s: drift: %s", where, e.Drift))
	}
	if e.RPOStatus == tridentv1.RPOBreached {
		out = append(out, fmt.Sprintf("%s: recovery point objective breached: lag %s, objective %s (%s)", where, e.Lag, e.RPO, e.RPOSource))
	}
	return out
}

func orUnknown(s string) string {
	if s == "" {
		return "no reason given"
	}
	return s
}

// bytesText writes a byte count for people: exact below 1 KiB, else with one decimal.
func bytesText(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// printReport writes the report as a table, or as JSON or YAML.
func printReport(w *printer, rep *Report, output string) error {
	switch output {
	case "json":
		data, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		w.printf("%s\n", data)
		return w.err
	case "yaml":
		data, err := yaml.Marshal(rep)
		if err != nil {
			return err
		}
		w.printf("%s", data)
		return w.err
	}
	return renderTable(w, rep)
}

// renderTable writes each relationship as a block: one row per field, this site's end and
// the peer's side by side, then the verdict.
func renderTable(w *printer, rep *Report) error {
	if len(rep.Relationships) == 0 {
		w.printf("No TridentMirrorRelationships in namespace %s.\n", rep.Namespace)
		return w.err
	}
	for i, p := range rep.Relationships {
		if i > 0 {
			w.println()
		}
		verdict := "HEALTHY"
		if !p.Healthy {
			verdict = "UNHEALTHY"
		}
		w.printf("TMR %s/%s: %s\n", rep.Namespace, p.Name, verdict)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		tp := &printer{w: tw}
		peerHead, peer := "peer site", p.Peer
		switch {
		case p.PeerError != "":
			peerHead = "peer site: unreachable"
		case peer != nil:
			peerHead = peer.Site
		}
		tp.printf("  \t%s\t%s\n", p.Local.Site, peerHead)
		for _, row := range rows(&p.Local, peer) {
			tp.printf("  %s\t%s\t%s\n", row[0], row[1], row[2])
		}
		if err := errors.Join(tp.err, tw.Flush()); err != nil {
			return err
		}
		for _, pr := range p.Problems {
			w.printf("  problem: %s\n", pr)
		}
		for _, n := range p.Notes {
			w.printf("  note: %s\n", n)
		}
	}
	return w.err
}

// rows are the table's rows: a field's name, then its value at each end.
func rows(l, p *End) [][3]string {
	field := func(e *End, f func(*End) string) string {
		if e == nil {
			return "-"
		}
		if v := f(e); v != "" {
			return v
		}
		return "-"
	}
	defs := []struct {
		name string
		f    func(*End) string
	}{
		{"TMR", func(e *End) string { return e.TMR }},
		{"desired / actual", func(e *End) string {
			actual := string(e.ActualState)
			if actual == "" {
				actual = "(no status yet)"
			}
			return string(e.DesiredState) + " / " + actual
		}},
		{"message", func(e *End) string { return e.Message }},
		{"PVC", func(e *End) string { return e.LocalPVC }},
		{"local handle", func(e *End) string { return e.LocalVolumeHandle }},
		{"remote handle", func(e *End) string { return e.RemoteVolumeHandle }},
		{"lag", func(e *End) string { return e.Lag }},
		{"RPO", func(e *End) string {
			if e.RPO == "" {
				return ""
			}
			return e.RPO + ": " + string(e.RPOStatus)
		}},
		{"healthy", func(e *End) string {
			if e.Healthy == nil {
				return ""
			}
			if *e.Healthy {
				return "true"
			}
			return "false: " + orUnknown(e.UnhealthyReason)
		}},
		{"last transfer", func(e *End) string {
			t := e.LastTransfer
			if t == nil {
				return ""
			}
			parts := []string{}
			if t.Time != "" {
				parts = append(parts, t.Time)
			}
			if t.Bytes != nil {
				parts = append(parts, bytesText(*t.Bytes))
			}
			if t.Duration != "" {
				parts = append(parts, "in "+t.Duration)
			}
			return strings.Join(parts, ", ")
		}},
		{"split brain", func(e *End) string {
			if e.SplitBrain != nil {
				return fmt.Sprintf("YES since %s: %s here, %s there", e.SplitBrain.CommonSnapshot, bytesText(e.SplitBrain.LocalBytes), bytesText(e.SplitBrain.RemoteBytes))
			}
			if e.SplitBrainCheck != "" {
				return "not checked: " + e.SplitBrainCheck
			}
			return "no"
		}},
		{"drift", func(e *End) string {
			if e.Drift == "" {
				return "no"
			}
			return e.Drift
		}},
		{"pending updates", func(e *End) string {
			if len(e.PendingUpdates) == 0 {
				return "none"
			}
			return strings.Join(e.PendingUpdates, ", ")
		}},
		{"last update", func(e *End) string {
			if e.LastUpdate == nil {
				return ""
			}
			return e.LastUpdate.Name + ": " + string(e.LastUpdate.State)
		}},
	}
	out := make([][3]string, 0, len(defs))
	for _, d := range defs {
		out = append(out, [3]string{d.name, field(l, d.f), field(p, d.f)})
	}
	return out
}

// getTMR reads a TMR of a site.
func getTMR(ctx context.Context, s *site, name string) (*tridentv1.TridentMirrorRelationship, error) {
	t := &tridentv1.TridentMirrorRelationship{}
	if err := s.c.Get(ctx, client.ObjectKey{Namespace: s.namespace, Name: name}, t); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("%s: TridentMirrorRelationship %s/%s not found", s.name, s.namespace, name)
		}
		return nil, fmt.Errorf("%s: get TridentMirrorRelationship %s/%s: %w", s.name, s.namespace, name, err)
	}
	return t, nil
}
