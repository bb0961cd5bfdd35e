package ontap

import (
	"encoding/hex"
	"net/http"
	"regexp"
	"slices"
	"strings"
)

// /storage/luns and their attributes (docs/ontap-rest.md §11.1, §11.2). A create, a PATCH and
// a delete check the request at once, as ONTAP does malformed input, then run as a job, as
// volume creates do: 202 with the job, or 201/200 when return_timeout covers it (the job kinds
// LUNCreate, LUNModify, LUNDelete of JobDurations). The job checks again what may have changed
// meanwhile. Attributes are synchronous (201, 200).

// lunOSTypes are the os_type values of a LUN.
var lunOSTypes = []string{"aix", "hpux", "hyper_v", "linux", "netware", "openvms", "solaris", "solaris_efi",
	"vmware", "windows", "windows_2008", "windows_gpt", "xen"}

const (
	minLUNSize = 4096
	maxLUNSize = 128 << 40
	// maxLUNName is the longest base name. UNCONFIRMED: the limit behind 5376462.
	maxLUNName = 255
	// maxAttribute is the longest name plus value of a LUN attribute.
	maxAttribute = 4092
)

var lunNameChars = regexp.MustCompile(`^[A-Za-z0-9_.{}-]+$`)

// lunSize is the size ONTAP gives a LUN asked for n bytes: it rounds up. UNCONFIRMED: the rule.
// ONTAP's published example creates a LUN of "300G" and reads back 322163441664 bytes, 300 GiB
// and 39 MiB; rounding up to 4 KiB blocks and adding 13 blocks in 102400 (rounded down) gives
// exactly that, and leaves a small LUN at its size in blocks (4096 stays 4096, 1 GiB gains
// 132 KiB). A client must not expect the size it asked for back.
func lunSize(n int64) int64 {
	blocks := (n + 4095) / 4096
	return (blocks + blocks*13/102400) * 4096
}

// wants reports whether the request asks for a field that is returned only when named (an
// expensive one): by name, with **, or as a filter.
func wants(r *request, path string) bool {
	if r.query.Has(path) {
		return true
	}
	return slices.ContainsFunc(fieldList(r.query, ""), func(f string) bool { return f == "**" || f == path })
}

func (c *Cluster) lunRecord(l *lun, r *request) map[string]any {
	v := l.vol
	written := l.written()
	state, container := "online", "online"
	if !l.enabled {
		state = "offline"
	}
	if v.state == "offline" {
		container = "volume_offline"
	}
	n := c.lunNode(l)
	rec := map[string]any{
		"uuid": l.uuid, "name": l.path(), "os_type": l.meta.OSType, "class": "regular", "enabled": l.enabled,
		"serial_number": l.serial, "serial_number_hex": hex.EncodeToString([]byte(l.serial)),
		"svm":         ref(v.svm, c.svms[v.svm].uuid),
		"create_time": c.timestamp(l.meta.Created),
		"location": map[string]any{
			"volume": ref(v.name, v.uuid), "logical_unit": l.name, "node": ref(n.name, n.uuid),
		},
		"space": map[string]any{
			"size": l.meta.Size, "used": written,
			"guarantee":                              map[string]any{"requested": l.meta.Guarantee, "reserved": l.meta.Guarantee && v.typ == "rw"},
			"scsi_thin_provisioning_support_enabled": l.meta.Thin,
		},
		"status": map[string]any{"state": state, "container_state": container, "read_only": v.typ != "rw"},
	}
	if l.meta.Comment != "" {
		rec["comment"] = l.meta.Comment
	}
	if l.qos != "" {
		rec["qos_policy"] = map[string]any{"name": l.qos}
	}
	maps := c.mapsOfLUN(l.uuid)
	if wants(r, "status.mapped") {
		// Expensive: returned only when asked for.
		rec["status"].(map[string]any)["mapped"] = len(maps) > 0
	}
	if len(maps) > 0 {
		var lm []map[string]any
		for _, m := range maps {
			g := c.igroups[m.igroup]
			lm = append(lm, map[string]any{"igroup": ref(g.name, g.uuid), "logical_unit_number": m.number})
		}
		rec["lun_maps"] = lm
	}
	if len(l.meta.Attributes) > 0 {
		var as []map[string]any
		for _, a := range l.meta.Attributes {
			as = append(as, map[string]any{"name": a.Name, "value": a.Value})
		}
		rec["attributes"] = as
	}
	return rec
}

func (c *Cluster) listLUNs(r *request) response {
	c.syncSAN()
	recs := []map[string]any{}
	for _, l := range c.luns() {
		recs = append(recs, c.lunRecord(l, r))
	}
	return ok(recs)
}

func errLUNNotFound(target string) *apiErr {
	return &apiErr{status: http.StatusNotFound, code: codeLUNNotFound, message: "The LUN does not exist.", target: target}
}

func (c *Cluster) getLUN(r *request) response {
	c.syncSAN()
	l := c.lunByUUID(r.vars["uuid"])
	if l == nil {
		return fail(errLUNNotFound("uuid"))
	}
	return ok(c.lunRecord(l, r))
}

// lunTarget is where a create puts a LUN: its volume and base name.
func (c *Cluster) lunTarget(r *request, s *svm) (*volume, string, *apiErr) {
	path, _ := r.body["name"].(string)
	loc, _ := r.body["location"].(map[string]any)
	if path == "" && loc == nil {
		return nil, "", errInvalid(codeLUNRequired, "name", `"name" or "location.volume" and "location.logical_unit" are required for a new LUN.`)
	}
	var volName, name, volUUID string
	if path != "" {
		if strings.Contains(path, "/.snapshot/") {
			return nil, "", errInvalid(codeLUNInSnapshot, "name", "Cannot create a LUN in a Snapshot copy: %q.", path)
		}
		var ok bool
		if volName, name, ok = splitLUNPath(path); !ok {
			return nil, "", errInvalid(codeLUNNameInvalid, "name", "Invalid LUN path %q: want /vol/<volume>/<lun>.", path)
		}
	} else {
		vol, _ := loc["volume"].(map[string]any)
		volName, _ = vol["name"].(string)
		volUUID, _ = vol["uuid"].(string)
		name, _ = loc["logical_unit"].(string)
		if volName == "" && volUUID == "" {
			return nil, "", errInvalid(codeLUNRequired, "location.volume.name", `"location.volume" is required for a new LUN.`)
		}
		if name == "" {
			return nil, "", errInvalid(codeLUNRequired, "location.logical_unit", `"location.logical_unit" is required for a new LUN.`)
		}
	}
	if e := checkLUNName(name); e != nil {
		return nil, "", e
	}
	var v *volume
	if volUUID != "" {
		if v = c.volumes[volUUID]; v == nil || v.svm != s.name {
			return nil, "", &apiErr{status: http.StatusNotFound, code: codeVolumeUUIDNotFound, message: "The volume does not exist.", target: "location.volume.uuid"}
		}
	} else if v = c.volumeByName(s.name, volName); v == nil {
		target := "name"
		if path == "" {
			target = "location.volume.name"
		}
		return nil, "", &apiErr{status: http.StatusNotFound, code: codeVolumeNameNotFound, message: "Volume \"" + volName + "\" does not exist in SVM \"" + s.name + "\".", target: target}
	}
	return v, name, nil
}

func checkLUNName(name string) *apiErr {
	switch {
	case len(name) > maxLUNName:
		return errInvalid(codeLUNNameTooLong, "name", "The LUN name %q is too long: at most %d characters.", name, maxLUNName)
	// "." and "..", made of valid characters, would name directories on the simulator's disk
	// (UNCONFIRMED: that ONTAP refuses them, with this code).
	case !lunNameChars.MatchString(name) || name == "." || name == "..":
		return errInvalid(codeLUNNameChars, "name", "The LUN name %q holds an invalid character: only A-Z, a-z, 0-9, \"-\", \".\", \"_\", \"{\" and \"}\" are allowed.", name)
	}
	return nil
}

// checkLUNSize reads a requested size: a number of bytes within ONTAP's bounds.
func checkLUNSize(v any) (int64, *apiErr) {
	n, isNum := number(v)
	switch {
	case !isNum:
		return 0, errInvalid(codeLUNSizeInvalid, "space.size", "Invalid LUN size %v.", v)
	case n < 0:
		return 0, errInvalid(codeLUNSizeNegative, "space.size", "The LUN size cannot be negative.")
	case n < minLUNSize:
		return 0, errInvalid(codeLUNSizeTooSmall, "space.size", "The LUN size %d is too small: the minimum is %d bytes.", n, minLUNSize)
	case n > maxLUNSize:
		return 0, errInvalid(codeLUNSizeTooLarge, "space.size", "The LUN size %d is too large: the maximum is %d bytes.", n, int64(maxLUNSize))
	}
	return n, nil
}

// checkLUNVolume refuses a change to the LUNs of a volume that cannot take it: a DP volume is
// read-only (UNCONFIRMED: the code; ONTAP documents 5374129 for a load-sharing mirror, also
// read-only), an offline one serves nothing.
func checkLUNVolume(v *volume) *apiErr {
	switch {
	case v.typ != "rw":
		return errInvalid(codeLUNReadOnlyVolume, "", "Volume %q in SVM %q is a read-only SnapMirror destination: its LUNs cannot be created, resized, renamed or deleted.", v.name, v.svm)
	case v.state == "offline":
		return errInvalid(codeLUNVolumeOffline, "", "Volume %q in SVM %q is offline.", v.name, v.svm)
	}
	return nil
}

// checkLUNFits refuses a LUN with a space guarantee that does not fit its volume's free space
// (grow: the bytes it adds). A LUN without a guarantee (thin, as Trident creates them) may be
// larger than its volume: it takes only what is written. UNCONFIRMED: the code (5374125, "too
// large") and that ONTAP checks at create and resize rather than failing writes later.
func checkLUNFits(v *volume, guarantee bool, grow int64) *apiErr {
	if !guarantee {
		return nil
	}
	if free := v.size - v.used(); grow > free {
		return errInvalid(codeLUNSizeTooLarge, "space.size", "The LUN does not fit in volume %q: it needs %d bytes, %d are available.", v.name, grow, max(free, 0))
	}
	return nil
}

func boolField(body map[string]any, path string) (bool, bool) {
	var cur any = body
	for _, p := range strings.Split(path, ".") {
		m, _ := cur.(map[string]any)
		cur = m[p]
	}
	b, isBool := cur.(bool)
	return b, isBool
}

func (c *Cluster) createLUN(r *request) response {
	c.syncSAN()
	if r.body["svm"] == nil {
		return fail(errInvalid(codeSVMMissing, "svm", "neither svm.name nor svm.uuid was given"))
	}
	s := c.svmOf(r.body["svm"])
	if s == nil {
		return fail(&apiErr{status: http.StatusNotFound, code: codeSVMNotFound, message: "The specified SVM does not exist.", target: "svm.name"})
	}
	v, name, e := c.lunTarget(r, s)
	if e != nil {
		return fail(e)
	}
	osType, _ := r.body["os_type"].(string)
	space, _ := r.body["space"].(map[string]any)
	switch {
	case osType == "":
		return fail(errInvalid(codeLUNRequired, "os_type", `"os_type" is required for a new LUN.`))
	case !slices.Contains(lunOSTypes, osType):
		return fail(errInvalid(codeInvalidValue, "os_type", "The value %q is invalid for field \"os_type\" (<%s>)", osType, strings.Join(lunOSTypes, ",")))
	case space["size"] == nil:
		return fail(errInvalid(codeLUNRequired, "space.size", `"space.size" is required for a new LUN.`))
	}
	requested, e := checkLUNSize(space["size"])
	if e != nil {
		return fail(e)
	}
	meta := lunMeta{ID: c.fabric.newUUID(), OSType: osType, Size: lunSize(requested), Created: r.now}
	// ONTAP's default is a space-reserved LUN; Trident asks for none.
	meta.Guarantee = true
	if g, set := boolField(r.body, "space.guarantee.requested"); set {
		meta.Guarantee = g
	}
	meta.Thin, _ = boolField(r.body, "space.scsi_thin_provisioning_support_enabled")
	if comment, _ := r.body["comment"].(string); len(comment) > 254 {
		return fail(errInvalid(codeInvalidValue, "comment", "The comment is too long: at most 254 characters."))
	} else {
		meta.Comment = comment
	}
	attrs, e := lunAttributes(r.body["attributes"])
	if e != nil {
		return fail(e)
	}
	meta.Attributes = attrs
	enabled := true
	if b, set := r.body["enabled"].(bool); set {
		enabled = b
	}
	qos, _ := nameOf(r.body, "qos_policy")
	check := func() *apiErr {
		if c.volumes[v.uuid] == nil {
			return &apiErr{status: http.StatusNotFound, code: codeVolumeUUIDNotFound, message: "The volume does not exist.", target: "name"}
		}
		if e := checkLUNVolume(v); e != nil {
			return e
		}
		if v.active().hasLUN(name) {
			return &apiErr{status: http.StatusConflict, code: codeLUNDuplicate, message: "A LUN already exists at path /vol/" + v.name + "/" + name + ".", target: "name"}
		}
		return checkLUNFits(v, meta.Guarantee, meta.Size)
	}
	if e := check(); e != nil {
		return fail(e)
	}
	l := &lun{uuid: c.fabric.newUUID(), serial: c.fabric.newSerial(), enabled: enabled, qos: qos, vol: v, name: name, meta: meta}
	resp := c.async(r, func() *apiErr {
		if e := check(); e != nil {
			return e
		}
		if v.luns == nil {
			v.luns = map[string]*lun{}
		}
		if err := l.store(meta); err != nil {
			return errDisk(err)
		}
		v.luns[meta.ID] = l
		return nil
	})
	if r.query.Get("return_records") == "true" {
		if body, isMap := resp.body.(map[string]any); isMap {
			body["num_records"] = 1
			body["records"] = []map[string]any{{"uuid": l.uuid, "name": l.path()}}
		}
	}
	return resp
}

// lunAttributes reads the attributes of a create.
func lunAttributes(v any) ([]lunAttribute, *apiErr) {
	list, _ := v.([]any)
	var out []lunAttribute
	for _, item := range list {
		m, _ := item.(map[string]any)
		a := lunAttribute{}
		a.Name, _ = m["name"].(string)
		a.Value, _ = m["value"].(string)
		if e := checkAttribute(a); e != nil {
			return nil, e
		}
		if slices.ContainsFunc(out, func(x lunAttribute) bool { return x.Name == a.Name }) {
			return nil, &apiErr{status: http.StatusConflict, code: codeAttributeExists, message: "The attribute " + a.Name + " is given twice.", target: "attributes.name"}
		}
		out = append(out, a)
	}
	return out, nil
}

func checkAttribute(a lunAttribute) *apiErr {
	switch {
	case a.Name == "":
		return errInvalid(codeInvalidField, "name", `"name" is a required field`)
	case len(a.Name)+len(a.Value) > maxAttribute:
		return errInvalid(codeInvalidValue, "value", "An attribute's name and value are at most %d bytes together.", maxAttribute)
	}
	return nil
}

func (c *Cluster) modifyLUN(r *request) response {
	c.syncSAN()
	l := c.lunByUUID(r.vars["uuid"])
	if l == nil {
		return fail(errLUNNotFound("uuid"))
	}
	v := l.vol
	space, _ := r.body["space"].(map[string]any)
	_, resizing := space["size"]
	newName := l.name
	if path, set := r.body["name"].(string); set {
		volName, name, ok := splitLUNPath(path)
		switch {
		case !ok:
			return fail(errInvalid(codeLUNNameInvalid, "name", "Invalid LUN path %q: want /vol/<volume>/<lun>.", path))
		case volName != v.name:
			// ONTAP moves the LUN to the other volume in the background; not simulated.
			return fail(errInvalid(codeNotSupported, "name", "Moving a LUN to another volume is not supported by the simulator."))
		}
		if e := checkLUNName(name); e != nil {
			return fail(e)
		}
		newName = name
	}
	_, guaranteeSet := boolField(r.body, "space.guarantee.requested")
	_, thinSet := boolField(r.body, "space.scsi_thin_provisioning_support_enabled")
	_, commentSet := r.body["comment"]
	changesImage := resizing || newName != l.name || guaranteeSet || thinSet || commentSet
	if changesImage {
		if e := checkLUNVolume(v); e != nil {
			return fail(e)
		}
	}
	var newSize int64
	if resizing {
		requested, e := checkLUNSize(space["size"])
		if e != nil {
			return fail(e)
		}
		newSize = lunSize(requested)
		switch {
		case requested == l.meta.Size || newSize == l.meta.Size:
			return fail(errInvalid(codeLUNSameSize, "space.size", "The new size equals the LUN's current size, %d bytes.", l.meta.Size))
		case newSize < l.meta.Size:
			return fail(errInvalid(codeLUNShrink, "space.size", "A LUN's size can be increased, not reduced, using the REST interface."))
		}
	}
	if comment, _ := r.body["comment"].(string); len(comment) > 254 {
		return fail(errInvalid(codeInvalidValue, "comment", "The comment is too long: at most 254 characters."))
	}
	if newName != l.name {
		if v.active().hasLUN(newName) {
			return fail(&apiErr{status: http.StatusConflict, code: codeLUNDuplicate, message: "A LUN already exists at path /vol/" + v.name + "/" + newName + ".", target: "name"})
		}
	}
	id := l.meta.ID
	return c.async(r, func() *apiErr {
		c.syncSAN()
		l := v.luns[id]
		if c.volumes[v.uuid] == nil || l == nil {
			return errLUNNotFound("uuid")
		}
		if changesImage {
			if e := checkLUNVolume(v); e != nil {
				return e
			}
		}
		meta := l.meta
		if g, set := boolField(r.body, "space.guarantee.requested"); set {
			meta.Guarantee = g
		}
		if resizing {
			if newSize <= meta.Size {
				return errInvalid(codeLUNShrink, "space.size", "A LUN's size can be increased, not reduced, using the REST interface.")
			}
			if e := checkLUNFits(v, meta.Guarantee, newSize-meta.Size); e != nil {
				return e
			}
			meta.Size = newSize
		}
		if t, set := boolField(r.body, "space.scsi_thin_provisioning_support_enabled"); set {
			meta.Thin = t
		}
		if comment, set := r.body["comment"].(string); set {
			meta.Comment = comment
		}
		if b, set := r.body["enabled"].(bool); set {
			l.enabled = b
		}
		if qos, set := nameOf(r.body, "qos_policy"); set {
			l.qos = qos
		}
		if newName != l.name {
			if v.active().hasLUN(newName) {
				return &apiErr{status: http.StatusConflict, code: codeLUNDuplicate, message: "A LUN already exists at path /vol/" + v.name + "/" + newName + ".", target: "name"}
			}
			// Renamed, the image keeps its inode: a host that has it open goes on.
			if err := v.active().renameLUN(l.name, newName); err != nil {
				return errDisk(err)
			}
			l.name = newName
		}
		if changesImage {
			if err := l.store(meta); err != nil {
				return errDisk(err)
			}
		}
		return nil
	})
}

func (c *Cluster) deleteLUN(r *request) response {
	c.syncSAN()
	l := c.lunByUUID(r.vars["uuid"])
	if l == nil {
		return fail(errLUNNotFound("uuid"))
	}
	force := r.query.Get("allow_delete_while_mapped") == "true"
	mappedErr := &apiErr{status: http.StatusConflict, code: codeLUNDeleteMapped, message: "LUN " + l.path() + " is mapped: unmap it first, or set allow_delete_while_mapped.", target: "allow_delete_while_mapped"}
	if e := checkLUNVolume(l.vol); e != nil {
		return fail(e)
	}
	if len(c.mapsOfLUN(l.uuid)) > 0 && !force {
		return fail(mappedErr)
	}
	v, id := l.vol, l.meta.ID
	return c.async(r, func() *apiErr {
		c.syncSAN()
		l := v.luns[id]
		if c.volumes[v.uuid] == nil || l == nil {
			return errLUNNotFound("uuid")
		}
		if e := checkLUNVolume(v); e != nil {
			return e
		}
		if len(c.mapsOfLUN(l.uuid)) > 0 && !force {
			return mappedErr
		}
		// With the flag, the LUN's maps go with it.
		if err := v.active().removeLUN(l.name); err != nil {
			return errDisk(err)
		}
		v.lunsStale = true
		c.syncSAN()
		return nil
	})
}

// LUN attributes: /storage/luns/{lun.uuid}/attributes[/{name}], synchronous.

func (c *Cluster) attributeLUN(r *request) (*lun, *apiErr) {
	c.syncSAN()
	l := c.lunByUUID(r.vars["lun.uuid"])
	if l == nil {
		return nil, errLUNNotFound("lun.uuid")
	}
	return l, nil
}

func attributeRecord(l *lun, a lunAttribute) map[string]any {
	return map[string]any{"name": a.Name, "value": a.Value, "lun": map[string]any{"uuid": l.uuid}}
}

func (c *Cluster) listLUNAttributes(r *request) response {
	l, e := c.attributeLUN(r)
	if e != nil {
		return fail(e)
	}
	recs := []map[string]any{}
	for _, a := range l.meta.Attributes {
		recs = append(recs, attributeRecord(l, a))
	}
	return ok(recs)
}

func (c *Cluster) getLUNAttribute(r *request) response {
	l, e := c.attributeLUN(r)
	if e != nil {
		return fail(e)
	}
	for _, a := range l.meta.Attributes {
		if a.Name == r.vars["name"] {
			return ok(attributeRecord(l, a))
		}
	}
	return fail(errAttributeNotFound(r.vars["name"]))
}

func errAttributeNotFound(name string) *apiErr {
	return &apiErr{status: http.StatusNotFound, code: codeAttributeNotFound, message: "The LUN attribute \"" + name + "\" does not exist.", target: "name"}
}

func (c *Cluster) createLUNAttribute(r *request) response {
	l, e := c.attributeLUN(r)
	if e != nil {
		return fail(e)
	}
	a := lunAttribute{}
	a.Name, _ = r.body["name"].(string)
	a.Value, _ = r.body["value"].(string)
	if e := checkAttribute(a); e != nil {
		return fail(e)
	}
	if e := checkLUNVolume(l.vol); e != nil {
		return fail(e)
	}
	meta := l.meta
	if slices.ContainsFunc(meta.Attributes, func(x lunAttribute) bool { return x.Name == a.Name }) {
		return fail(&apiErr{status: http.StatusConflict, code: codeAttributeExists, message: "The LUN attribute \"" + a.Name + "\" already exists.", target: "name"})
	}
	meta.Attributes = append(slices.Clone(meta.Attributes), a)
	if err := l.store(meta); err != nil {
		return fail(errDisk(err))
	}
	body := map[string]any{}
	if r.query.Get("return_records") == "true" {
		body = map[string]any{"num_records": 1, "records": []map[string]any{attributeRecord(l, a)}}
	}
	return created("/api/storage/luns/"+l.uuid+"/attributes/"+a.Name, body)
}

func (c *Cluster) modifyLUNAttribute(r *request) response {
	l, e := c.attributeLUN(r)
	if e != nil {
		return fail(e)
	}
	meta := l.meta
	meta.Attributes = slices.Clone(meta.Attributes)
	i := slices.IndexFunc(meta.Attributes, func(x lunAttribute) bool { return x.Name == r.vars["name"] })
	if i < 0 {
		return fail(errAttributeNotFound(r.vars["name"]))
	}
	value, _ := r.body["value"].(string)
	if e := checkAttribute(lunAttribute{Name: r.vars["name"], Value: value}); e != nil {
		return fail(e)
	}
	if e := checkLUNVolume(l.vol); e != nil {
		return fail(e)
	}
	meta.Attributes[i].Value = value
	if err := l.store(meta); err != nil {
		return fail(errDisk(err))
	}
	return ok(map[string]any{})
}

func (c *Cluster) deleteLUNAttribute(r *request) response {
	l, e := c.attributeLUN(r)
	if e != nil {
		return fail(e)
	}
	meta := l.meta
	meta.Attributes = slices.Clone(meta.Attributes)
	i := slices.IndexFunc(meta.Attributes, func(x lunAttribute) bool { return x.Name == r.vars["name"] })
	if i < 0 {
		return fail(errAttributeNotFound(r.vars["name"]))
	}
	if e := checkLUNVolume(l.vol); e != nil {
		return fail(e)
	}
	meta.Attributes = slices.Delete(meta.Attributes, i, i+1)
	if err := l.store(meta); err != nil {
		return fail(errDisk(err))
	}
	return ok(map[string]any{})
}
