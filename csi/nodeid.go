package csi

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// NodeID is what a node plugin of this driver reports as its CSI node ID (NodeGetInfo), and
// what ControllerPublishVolume receives:
//
//	<nodeName>[;iqn=<initiator IQN>][;nfs=<ip>[,<ip>...]]
//
// nodeName is the Kubernetes node's name; iqn is the node's iSCSI initiator name, which
// ontap-san volumes need; nfs lists the addresses the node mounts NFS from, for the export
// rules of ontap-nas volumes. Values are percent-escaped (%XX) where they hold ';', '%' or
// characters outside printable ASCII (an address list is split at ',' before unescaping). The whole is at most 256
// bytes, the CSI limit. Fields come in that order, each at most once; unknown ones are
// refused, so that a node plugin newer than the controller is noticed.
type NodeID struct {
	Name string
	IQN  string
	NFS  []string
}

// maxNodeID is the CSI limit on a node ID, in bytes.
const maxNodeID = 256

var (
	// nodeName is a Kubernetes node name: a DNS subdomain.
	nodeName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$`)
	// iqnName is an iSCSI name: an IQN (iqn.yyyy-mm.reverse-domain[:anything]) or an EUI.
	iqnName = regexp.MustCompile(`^(iqn\.[0-9]{4}-[0-9]{2}\.[a-z0-9][-a-z0-9.]*(:[\x21-\x7e]+)?|eui\.[0-9A-Fa-f]{16})$`)
)

// String writes the node ID in its wire form.
func (n NodeID) String() string {
	s := n.Name
	if n.IQN != "" {
		s += ";iqn=" + escapeNodeValue(n.IQN)
	}
	if len(n.NFS) > 0 {
		addrs := make([]string, len(n.NFS))
		for i, a := range n.NFS {
			addrs[i] = escapeNodeValue(a)
		}
		s += ";nfs=" + strings.Join(addrs, ",")
	}
	return s
}

// escapeNodeValue percent-escapes what would break the node ID's syntax.
func escapeNodeValue(v string) string {
	var b strings.Builder
	for i := range len(v) {
		c := v[i]
		if c <= ' ' || c >= 0x7f || c == ';' || c == '%' {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// ParseNodeID reads a node ID (see NodeID), refusing (errInvalid) what a node plugin of this
// driver does not write.
func ParseNodeID(id string) (NodeID, error) {
	var n NodeID
	if len(id) > maxNodeID {
		return n, refuse(errInvalid, "node_id is %d bytes, more than CSI's %d", len(id), maxNodeID)
	}
	fields := strings.Split(id, ";")
	n.Name = fields[0]
	if !nodeName.MatchString(n.Name) {
		return n, refuse(errInvalid, "node_id %q: it starts with %q, which is no Kubernetes node name", id, n.Name)
	}
	order := []string{"iqn", "nfs"}
	for _, f := range fields[1:] {
		key, raw, ok := strings.Cut(f, "=")
		i := slices.Index(order, key)
		if !ok || i < 0 {
			return n, refuse(errInvalid, "node_id %q: field %q is unknown: write <node>[;iqn=<IQN>][;nfs=<ip>[,<ip>]]", id, f)
		}
		order = order[i+1:]
		switch key {
		case "iqn":
			v, err := url.PathUnescape(raw)
			if err != nil || !iqnName.MatchString(v) {
				return n, refuse(errInvalid, "node_id %q: iqn %q is no iSCSI initiator name (iqn.yyyy-mm.domain:name or eui.<16 hex digits>)", id, raw)
			}
			n.IQN = v
		case "nfs":
			for _, a := range strings.Split(raw, ",") {
				v, err := url.PathUnescape(a)
				if err != nil || net.ParseIP(v) == nil {
					return n, refuse(errInvalid, "node_id %q: nfs address %q is no IP address", id, a)
				}
				n.NFS = append(n.NFS, v)
			}
		}
	}
	return n, nil
}

// maxIgroupName is ONTAP's longest igroup name.
const maxIgroupName = 96

// installationID is what an installation ID may be: it ends every igroup name, whole.
var installationID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$`)

// igroupName is the igroup of a node in this installation: <nodeName>-<installation>, as
// Trident names its per-node igroups <nodeName>-<tridentUUID>. A name longer than ONTAP's 96
// characters keeps the start of the node name, then 8 hexadecimal digits of its SHA-256, so
// that two long node names that share their start still get igroups of their own.
func igroupName(node, installation string) string {
	name := node + "-" + installation
	if len(name) <= maxIgroupName {
		return name
	}
	// The installation ID is at most 40 characters, so that the tail is at most 50.
	sum := sha256.Sum256([]byte(node))
	tail := "-" + hex.EncodeToString(sum[:4]) + "-" + installation
	return node[:maxIgroupName-len(tail)] + tail
}

// ownIgroup reports whether igroup is one that igroupName makes for a node of this
// installation.
func ownIgroup(igroup, installation string) bool { return strings.HasSuffix(igroup, "-"+installation) }
