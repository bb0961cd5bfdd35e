package ontap

import (
	"slices"
	"strings"
)

// access says how a request may use a field path: read it (always), set it in a POST, set it
// in a PATCH.
type access uint8

const (
	readOnly access = 0
	onPost   access = 1 << iota
	onPatch
)

// fieldGroup is some field paths of a kind that share an access.
type fieldGroup struct {
	access access
	paths  []string
}

func ro(paths ...string) fieldGroup                 { return fieldGroup{readOnly, paths} }
func settable(a access, paths ...string) fieldGroup { return fieldGroup{a, paths} }

// kind is an object kind as ONTAP's model declares it (docs/ontap-rest.md §3-§8): every field
// path a record of the kind can carry, dotted through objects and lists ("svm.name",
// "aggregates.name"), and which of them a POST or a PATCH may set. It is the one declaration
// that fields=, query filters and request bodies are checked against, and records are built
// to it (TestRecordsFollowTheirKind).
type kind struct {
	name   string
	leaves map[string]access
	// objects are the paths above a leaf: "svm" for "svm.name".
	objects map[string]bool
	// from holds the release each field came in, for those that came after 9.8.
	from map[string][3]int
	// keys are the fields that identify a record of the kind besides the common key fields
	// (uuid, name, ...): returned whatever fields= names, as a lun-map's svm, igroup and lun.
	keys []string
	// hyphens: fields= may write "_" as "-" (logical-unit-number).
	hyphens bool
}

// withKeys declares the kind's own key fields.
func (k *kind) withKeys(paths ...string) *kind {
	k.keys = paths
	return k
}

// acceptingHyphens marks a kind whose fields= may spell "_" as "-". UNCONFIRMED: Trident asks
// lun-maps for fields=svm,lun,igroup,logical-unit-number and reads logical_unit_number back,
// so ONTAP seems to take the alias there.
func (k *kind) acceptingHyphens() *kind {
	k.hyphens = true
	return k
}

func newKind(name string, groups ...fieldGroup) *kind {
	k := &kind{name: name, leaves: map[string]access{}, objects: map[string]bool{}}
	for _, g := range groups {
		for _, p := range g.paths {
			k.leaves[p] = g.access
			for i := strings.IndexByte(p, '.'); i >= 0; i = next(p, i) {
				k.objects[p[:i]] = true
			}
		}
	}
	return k
}

func next(p string, i int) int {
	j := strings.IndexByte(p[i+1:], '.')
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

// since marks fields that exist from an ONTAP release on; older releases refuse them in
// fields= as unknown. The release they came in is UNCONFIRMED for those marked so far.
func (k *kind) since(release [3]int, paths ...string) *kind {
	if k.from == nil {
		k.from = map[string][3]int{}
	}
	for _, p := range paths {
		k.from[p] = release
	}
	return k
}

// readable reports whether fields= may name the path on a cluster of the release: a leaf, or
// an object above leaves.
func (k *kind) readable(path string, release [3]int) bool {
	if from, ok := k.from[path]; ok && slices.Compare(release[:], from[:]) < 0 {
		return false
	}
	_, leaf := k.leaves[path]
	return leaf || k.objects[path] || path == "_links"
}

// filterable reports whether the path may be a query filter: a leaf.
func (k *kind) filterable(path string) bool {
	_, leaf := k.leaves[path]
	return leaf
}

// The kinds of the route table.
var (
	volumeKind = newKind("volume",
		settable(onPost|onPatch, "name", "size", "state", "comment", "guarantee.type", "nas.path",
			"nas.export_policy.name", "nas.export_policy.id", "nas.security_style", "nas.unix_permissions",
			"nas.uid", "nas.gid", "snapshot_policy.name", "snapshot_policy.uuid", "space.snapshot.reserve_percent",
			"encryption.enabled", "autosize.mode", "autosize.maximum", "autosize.minimum",
			"autosize.grow_threshold", "autosize.shrink_threshold"),
		settable(onPost, "svm.name", "svm.uuid", "aggregates.name", "aggregates.uuid", "style", "type", "language",
			"clone.is_flexclone", "clone.parent_volume.name", "clone.parent_volume.uuid",
			"clone.parent_snapshot.name", "clone.parent_snapshot.uuid"),
		ro("uuid", "create_time", "snapshot_count", "space.size", "space.used", "space.available",
			"space.percent_used", "space.snapshot.used", "guarantee.honored", "encryption.state",
			"snapmirror.is_protected", "snapmirror.destinations.is_ontap", "snapmirror.destinations.is_cloud",
			"statistics.iops_raw.write"),
	)
	snapshotKind = newKind("snapshot",
		settable(onPost|onPatch, "name", "comment", "snapmirror_label", "expiry_time"),
		settable(onPost, "svm.name", "svm.uuid"),
		ro("uuid", "create_time", "size", "logical_size", "owners", "state", "version_uuid",
			"provenance_volume.uuid", "volume.name", "volume.uuid", "reclaimable_space",
			"delta.size_consumed", "delta.time_elapsed"),
	)
	relationshipKind = newKind("snapmirror relationship",
		// source and destination on a PATCH reverse the relationship.
		settable(onPost|onPatch, "source.path", "destination.path", "policy.name", "policy.uuid",
			"transfer_schedule.name", "transfer_schedule.uuid", "throttle", "state"),
		settable(onPost, "restore", "create_destination.enabled", "create_destination.tiering.policy",
			"create_destination.tiering.supported", "create_destination.storage_service.enabled",
			"create_destination.storage_service.name", "create_destination.storage_service.enforce_performance",
			"create_destination.snapshot_locking_enabled"),
		settable(onPatch, "restore_to_snapshot", "preserve", "quick_resync"),
		ro("uuid", "source.svm.name", "source.svm.uuid", "source.cluster.name", "source.cluster.uuid",
			"destination.svm.name", "destination.svm.uuid", "destination.cluster.name", "destination.cluster.uuid",
			"destination.ipspace", "policy.type", "healthy", "unhealthy_reason.code", "unhealthy_reason.message",
			"unhealthy_reason.arguments", "lag_time", "exported_snapshot", "last_transfer_type", "transfer.uuid",
			"transfer.state", "transfer.type", "transfer.bytes_transferred", "transfer.end_time",
			"transfer.last_updated_time", "transfer.total_duration", "total_transfer_bytes",
			"total_transfer_duration", "group_type", "backoff_level", "identity_preservation"),
	)
	transferKind = newKind("snapmirror transfer",
		settable(onPost, "source_snapshot", "throttle", "storage_efficiency_enabled"),
		settable(onPatch, "state"),
		ro("uuid", "bytes_transferred", "checkpoint_size", "snapshot", "end_time", "last_updated_time",
			"total_duration", "error_info.code", "error_info.message", "relationship.uuid",
			"relationship.destination.path", "relationship.destination.svm.name", "relationship.destination.svm.uuid"),
	)
	jobKind = newKind("job",
		ro("uuid", "description", "state", "message", "code", "error.code", "error.message", "error.target",
			"error.arguments.code", "error.arguments.message", "start_time", "end_time", "svm.name", "svm.uuid"),
	)
	versionFields = []string{"version.full", "version.generation", "version.major", "version.minor"}
	clusterKind   = newKind("cluster",
		ro(versionFields...),
		ro("name", "uuid", "management_interfaces.name", "management_interfaces.uuid",
			"management_interfaces.ip.address", "san_optimized", "disaggregated"),
	).since([3]int{9, 16, 1}, "san_optimized", "disaggregated")
	svmKind = newKind("svm",
		ro("name", "uuid", "state", "subtype", "aggregates.name", "aggregates.uuid", "aggregates.available_size",
			"aggregates.state", "aggregates.snaplock_type", "aggregates_delegated", "language", "ipspace.name",
			"nfs.enabled", "iscsi.enabled", "cifs.enabled", "fcp.enabled", "nvme.enabled"),
	)
	nodeKind = newKind("node",
		ro(versionFields...),
		ro("uuid", "name", "serial_number", "system_id", "model", "vendor_serial_number", "state", "membership",
			"ha.enabled", "ha.type", "ha.partners.name", "ha.partners.uuid"),
	)
	ipInterfaceKind = newKind("ip interface",
		ro("uuid", "name", "enabled", "state", "scope", "services", "service_policy.name", "ip.address",
			"ip.netmask", "ip.family", "ipspace.name", "svm.name", "svm.uuid", "location.home_node.name",
			"location.home_node.uuid", "location.node.name", "location.node.uuid", "location.home_port.name",
			"location.home_port.node.name", "location.port.name", "location.port.node.name", "location.is_home",
			"location.auto_revert"),
	)
	licenseKind = newKind("license package",
		ro("name", "description", "state", "scope", "licenses.serial_number", "licenses.owner", "licenses.active",
			"licenses.evaluation", "licenses.compliance.state", "licenses.installed_license", "licenses.expiry_time"),
	)
	emsKind = newKind("ems application log",
		settable(onPost, emsFields...),
		ro("time"),
	)
	svmPeerKind = newKind("svm peer",
		ro("uuid", "name", "state", "applications", "svm.name", "svm.uuid", "peer.svm.name", "peer.svm.uuid",
			"peer.cluster.name", "peer.cluster.uuid"),
	)
	aggregateKind = newKind("aggregate",
		ro("name", "uuid", "state", "node.name", "node.uuid", "home_node.name", "home_node.uuid",
			"block_storage.primary.disk_type", "block_storage.primary.disk_class", "block_storage.primary.raid_type",
			"block_storage.primary.disk_count", "block_storage.primary.raid_size", "block_storage.mirror.enabled",
			"space.block_storage.size", "space.block_storage.available", "space.block_storage.used"),
	)
	scheduleKind = newKind("schedule",
		ro("uuid", "name", "type", "scope", "cron.minutes", "cron.hours", "cron.days", "cron.weekdays",
			"cron.months", "interval", "svm.name", "svm.uuid"),
	)
	policyKind = newKind("snapmirror policy",
		ro("uuid", "name", "type", "scope", "sync_type", "copy_all_source_snapshots",
			"copy_latest_source_snapshot", "transfer_schedule.name", "transfer_schedule.uuid", "svm.name", "svm.uuid"),
	)
	exportRuleFields = []string{"clients.match", "protocols", "ro_rule", "rw_rule", "superuser", "anonymous_user", "allow_suid"}
	exportPolicyKind = newKind("export policy",
		settable(onPost, "name", "svm.name", "svm.uuid"),
		settable(onPost, prefixed("rules.", exportRuleFields)...),
		ro("id", "rules.index"),
	)
	exportRuleKind = newKind("export rule",
		settable(onPost, exportRuleFields...),
		ro("index"),
	)
)

// The SAN kinds (§11).
var (
	lunKind = newKind("lun",
		settable(onPost|onPatch, "name", "comment", "enabled", "qos_policy.name", "space.size",
			"space.guarantee.requested", "space.scsi_thin_provisioning_support_enabled"),
		settable(onPost, "svm.name", "svm.uuid", "os_type", "location.volume.name", "location.volume.uuid",
			"location.logical_unit", "attributes.name", "attributes.value"),
		ro("uuid", "serial_number", "serial_number_hex", "class", "create_time", "space.used",
			"space.guarantee.reserved", "status.state", "status.container_state", "status.read_only", "status.mapped",
			"location.node.name", "location.node.uuid", "lun_maps.igroup.name", "lun_maps.igroup.uuid",
			"lun_maps.logical_unit_number"),
	)
	lunAttributeKind = newKind("lun attribute",
		settable(onPost, "name"),
		settable(onPost|onPatch, "value"),
		ro("lun.uuid"),
	)
	igroupKind = newKind("igroup",
		settable(onPost|onPatch, "name", "os_type", "comment", "delete_on_unmap"),
		settable(onPost, "svm.name", "svm.uuid", "protocol", "initiators.name", "initiators.comment"),
		ro("uuid", "lun_maps.lun.name", "lun_maps.lun.uuid", "lun_maps.logical_unit_number"),
	)
	initiatorKind = newKind("igroup initiator",
		settable(onPost, "name", "comment", "records.name", "records.comment"),
		ro("igroup.name", "igroup.uuid"),
	)
	lunMapKind = newKind("lun map",
		settable(onPost, "svm.name", "svm.uuid", "igroup.name", "igroup.uuid", "lun.name", "lun.uuid",
			"logical_unit_number"),
		ro("igroup.protocol", "igroup.os_type", "lun.node.name", "lun.node.uuid", "reporting_nodes.name",
			"reporting_nodes.uuid"),
	).withKeys("svm.name", "svm.uuid", "igroup.name", "igroup.uuid", "lun.name", "lun.uuid").acceptingHyphens()
	reportingNodeKind = newKind("lun map reporting node",
		ro("uuid", "name"),
	)
	iscsiServiceKind = newKind("iscsi service",
		ro("svm.name", "svm.uuid", "enabled", "target.name", "target.alias"),
	).withKeys("svm")
)

func prefixed(prefix string, paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = prefix + p
	}
	return out
}
