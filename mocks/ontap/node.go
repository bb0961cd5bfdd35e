package ontap

import (
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// The node seam: what a CSI node plugin's test fabric asks the simulator in place of an NFS
// mount and an iSCSI login. It mounts what it is told for real, a bind mount of a volume's fs/
// directory or a loop device on a LUN's image, so that the node side is tested on the bytes
// SnapMirror moves (content.go). Access is decided as ONTAP decides it: export policy rules
// for NFS, igroups and LUN maps for iSCSI.

// nfsMount is the answer to GET /sim/nfs/mount.
type nfsMount struct {
	SVM      string `json:"svm"`
	Volume   string `json:"volume"`
	Dir      string `json:"dir"`
	ReadOnly bool   `json:"readOnly"`
}

// sideNFSMount answers GET /sim/nfs/mount?server=<IP>&path=<junction path>&client=<client
// address or host name>&write=<bool>: which directory to bind-mount, and whether read-only.
// 404 when server is no data_nfs LIF of this cluster or nothing is mounted at path; 403 when
// the volume's export policy admits the client to nothing. write does not change the answer:
// a client that asks to write where the rule grants only read gets readOnly, and mounts so.
func (c *Cluster) sideNFSMount(r *sideRequest) sideResponse {
	q := r.URL.Query()
	server, path, client := q.Get("server"), q.Get("path"), q.Get("client")
	if server == "" || path == "" || client == "" {
		return sideError(http.StatusBadRequest, "want server, path and client")
	}
	if w := q.Get("write"); w != "" && w != "true" && w != "false" {
		return sideError(http.StatusBadRequest, "write: want true or false")
	}
	c.fabric.mu.Lock()
	defer c.fabric.mu.Unlock()
	svmName := c.lifSVM(server, "data_nfs")
	if svmName == "" {
		return sideError(http.StatusNotFound, "no NFS data interface of cluster "+c.name+" has address "+server)
	}
	v, sub := c.junction(svmName, path)
	if v == nil {
		return sideError(http.StatusNotFound, "no volume of SVM "+svmName+" is mounted at "+path)
	}
	if err := ensureTree(v.active()); err != nil {
		return sideError(http.StatusInternalServerError, "volume "+v.name+": "+err.Error())
	}
	dir := filepath.Join(v.active().fs(), filepath.FromSlash(sub))
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		return sideError(http.StatusNotFound, "no directory "+path+" in volume "+v.name+" of SVM "+svmName)
	}
	policyName := v.exportPolicy
	if policyName == "" {
		policyName = "default"
	}
	var rules []map[string]any
	for _, p := range c.exportPolicies {
		if p.svm == svmName && p.name == policyName {
			rules = p.rules
		}
	}
	read, write := nfsAccess(rules, client)
	if !read {
		// ONTAP answers such a mount "access denied".
		return sideError(http.StatusForbidden, "access denied: export policy "+policyName+" of SVM "+svmName+" has no rule that admits client "+client+" for NFS")
	}
	return sideResponse{status: http.StatusOK, body: nfsMount{SVM: svmName, Volume: v.name, Dir: dir, ReadOnly: !write || v.typ != "rw"}}
}

// lifSVM returns the SVM of the LIF with that address that offers the service, or "".
func (c *Cluster) lifSVM(address, service string) string {
	if l := c.lifAt(address, service); l != nil {
		return l.svm
	}
	return ""
}

// junction finds the volume of an SVM mounted at path, or at the nearest junction above it
// with the rest of the path (sub, "" for the volume's root).
func (c *Cluster) junction(svmName, path string) (v *volume, sub string) {
	path = strings.TrimSuffix(path, "/")
	for _, cand := range c.volumes {
		if cand.svm != svmName || cand.path == "" {
			continue
		}
		j := strings.TrimSuffix(cand.path, "/")
		switch {
		case path == j:
			return cand, ""
		case strings.HasPrefix(path, j+"/") && (v == nil || len(j) > len(strings.TrimSuffix(v.path, "/"))):
			v, sub = cand, strings.TrimPrefix(path, j+"/")
		}
	}
	if v != nil {
		if _, err := cleanFilePath(sub); err != nil {
			return nil, "" // "..": outside the volume
		}
	}
	return v, sub
}

// nfsAccess evaluates an export policy's rules, in index order, for an NFS client that
// authenticates with AUTH_SYS (as a Linux node's mount does): the first rule whose clients
// and protocols match decides whether it may read and write. No rule matching, it may do
// neither (a policy without rules, such as a new SVM's default, admits nobody).
//
// A flavor list admits a sys client when it holds "any" or "sys"; "none" admits it as the
// anonymous user, which the simulator treats as read access only; "never" (and a list of other
// flavors, krb5 and ntlm) admits nothing. UNCONFIRMED: ONTAP documents rw_rule "none" as
// read-write access as the anonymous user (a bind mount cannot map users, so the simulator
// answers read-only), and that a client without read access gets no write access either.
func nfsAccess(rules []map[string]any, client string) (read, write bool) {
	for _, rule := range rules {
		if !ruleClients(rule, client) || !ruleProtocols(rule) {
			continue
		}
		ro, rw := strList(rule["ro_rule"]), strList(rule["rw_rule"])
		read = admitsSys(ro, true)
		write = read && admitsSys(rw, false)
		return read, write
	}
	return false, false
}

// admitsSys reports whether a flavor list grants an AUTH_SYS client access; anonymous counts
// only where anon is allowed.
func admitsSys(flavors []string, anon bool) bool {
	if slices.Contains(flavors, "never") {
		return false
	}
	return slices.Contains(flavors, "any") || slices.Contains(flavors, "sys") || (anon && slices.Contains(flavors, "none"))
}

// ruleProtocols reports whether a rule applies to NFS: protocols any, nfs, nfs3 or nfs4 (the
// node may mount either version), or none given (ONTAP's default is any).
func ruleProtocols(rule map[string]any) bool {
	protocols := strList(rule["protocols"])
	if len(protocols) == 0 {
		return true
	}
	return slices.ContainsFunc(protocols, func(p string) bool { return p == "any" || p == "nfs" || p == "nfs3" || p == "nfs4" })
}

// ruleClients reports whether one of a rule's clients[].match names the client: the same
// IPv4 or IPv6 address, a subnet holding it (10.0.0.0/8, 10.1.16.0/255.255.255.0,
// fd20::/64; 0.0.0.0/0 is every IPv4 client), or the same host name. Netgroups (@name) and
// domains (.example.com) need name services the simulator does not have: they match only a
// client given by that literal string (UNCONFIRMED: not simulated).
func ruleClients(rule map[string]any, client string) bool {
	list, _ := rule["clients"].([]any)
	addr, addrErr := netip.ParseAddr(client)
	for _, item := range list {
		m, _ := item.(map[string]any)
		match, _ := m["match"].(string)
		switch {
		case match == "":
		case addrErr == nil && strings.Contains(match, "/"):
			if prefixContains(match, addr.Unmap()) {
				return true
			}
		case addrErr == nil:
			if a, err := netip.ParseAddr(match); err == nil && a.Unmap() == addr.Unmap() {
				return true
			}
		case strings.EqualFold(match, client):
			return true
		}
	}
	return false
}

// prefixContains reads a subnet as bits (10.0.0.0/8) or as a network mask
// (10.0.0.0/255.0.0.0) and reports whether it holds addr.
func prefixContains(match string, addr netip.Addr) bool {
	if p, err := netip.ParsePrefix(match); err == nil {
		return p.Contains(addr)
	}
	ip, mask, _ := strings.Cut(match, "/")
	base := net.ParseIP(ip).To4()
	m := net.ParseIP(mask).To4()
	if base == nil || m == nil || !addr.Is4() {
		return false
	}
	ones, bits := net.IPMask(m).Size()
	if bits == 0 {
		return false // not a contiguous mask
	}
	p, err := netip.ParsePrefix(base.String() + "/" + strconv.Itoa(ones))
	return err == nil && p.Masked().Contains(addr)
}

// strList reads a JSON list of strings of a stored rule.
func strList(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, item := range list {
		if s, isStr := item.(string); isStr {
			out = append(out, strings.ToLower(s))
		}
	}
	return out
}

// iscsiLUN is one LUN of the answer to GET /sim/iscsi/session.
type iscsiLUN struct {
	Number   int64  `json:"number"`
	Serial   string `json:"serial"`
	Image    string `json:"image"`
	ReadOnly bool   `json:"readOnly"`
	Size     int64  `json:"size"`
	SVM      string `json:"svm"`
	Path     string `json:"path"`
}

// sideISCSISession answers GET /sim/iscsi/session?portal=<IP or IP:3260>&target=<IQN>&
// initiator=<IQN>: the LUNs an iSCSI login of the initiator to the target through the portal
// sees, by LUN number, each with the image file to attach a loop device to. 404 when the
// portal is no data_iscsi LIF of this cluster or the target is not its SVM's; an initiator in
// no igroup logs in and sees no LUN (200, an empty list).
//
// As ONTAP's selective LUN map does, a LUN is reported through the LIFs of the node that owns
// it and of that node's HA partner only; an offline LUN, or one in an offline volume, is not
// reported (UNCONFIRMED: that it disappears rather than failing I/O).
func (c *Cluster) sideISCSISession(r *sideRequest) sideResponse {
	q := r.URL.Query()
	portal, target, initiator := q.Get("portal"), q.Get("target"), q.Get("initiator")
	if portal == "" || target == "" || initiator == "" {
		return sideError(http.StatusBadRequest, "want portal, target and initiator")
	}
	host := portal
	if h, port, err := net.SplitHostPort(portal); err == nil {
		if port != "3260" {
			return sideError(http.StatusNotFound, "no iSCSI portal of cluster "+c.name+" at "+portal+": iSCSI listens on port 3260")
		}
		host = h
	}
	c.fabric.mu.Lock()
	defer c.fabric.mu.Unlock()
	lif := c.lifAt(host, "data_iscsi")
	if lif == nil {
		return sideError(http.StatusNotFound, "no iSCSI data interface of cluster "+c.name+" has address "+host)
	}
	s := c.svms[lif.svm]
	if s == nil || c.noISCSI[s.name] || c.iscsiServiceRecord(s)["target"].(map[string]any)["name"] != target {
		return sideError(http.StatusNotFound, "target "+target+" is not served at portal "+portal)
	}
	c.syncSAN()
	luns := []iscsiLUN{}
	seen := map[string]bool{}
	for _, g := range sortedValues(c.igroups, func(g *igroup) string { return g.name }) {
		if g.svm != s.name || g.protocol == "fcp" || g.initiator(initiator) < 0 {
			continue
		}
		for _, m := range c.mapsOfIgroup(g.uuid) {
			l := c.lunByUUID(m.lun)
			if l == nil || seen[l.uuid] || !l.enabled || l.vol.state == "offline" {
				continue
			}
			if n := c.lunNode(l); n != lif.node && n.partner != lif.node {
				continue
			}
			seen[l.uuid] = true
			luns = append(luns, iscsiLUN{Number: m.number, Serial: l.serial, Image: l.image(), ReadOnly: l.vol.typ != "rw",
				Size: l.meta.Size, SVM: s.name, Path: l.path()})
		}
	}
	sort.Slice(luns, func(i, j int) bool { return luns[i].Number < luns[j].Number })
	return sideResponse{status: http.StatusOK, body: map[string]any{"luns": luns}}
}

// lifAt returns the SVM LIF with that address that offers the service, or nil.
func (c *Cluster) lifAt(address, service string) *lif {
	want, err := netip.ParseAddr(address)
	if err != nil {
		return nil
	}
	for _, l := range c.disc.lifs {
		if a, err := netip.ParseAddr(l.address); err == nil && a == want.Unmap() && l.svm != "" && slices.Contains(l.services, service) {
			return l
		}
	}
	return nil
}
