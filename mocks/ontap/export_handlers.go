package ontap

import (
	"net/http"
	"slices"
	"strconv"
)

// Deleting export policies and their rules: /protocols/nfs/export-policies/{id} and
// .../{policy.id}/rules/{index} (ontap-rest.md §8). Both are synchronous.

// codeExportPolicyInUse refuses to delete a policy that a volume uses. ONTAP refuses it (a
// Trident maintainer relies on that refusal, NetApp/trident#1180); its code is UNCONFIRMED,
// so the generic "in use" code stands for it.
const codeExportPolicyInUse = "8"

func (c *Cluster) deleteExportPolicy(r *request) response {
	id, err := strconv.ParseInt(r.vars["id"], 10, 64)
	p := c.exportPolicies[id]
	if err != nil || p == nil {
		return fail(errNotFound("id"))
	}
	if p.name == "default" {
		// Every SVM keeps its default policy (UNCONFIRMED code).
		return fail(&apiErr{status: http.StatusBadRequest, code: codeNotSupported, message: `The "default" export policy cannot be deleted.`, target: "id"})
	}
	for _, v := range c.volumes {
		if v.svm == p.svm && v.exportPolicy == p.name {
			return fail(&apiErr{status: http.StatusConflict, code: codeExportPolicyInUse,
				message: "Export policy " + p.name + " is in use by volume " + v.name + ".", target: "id"})
		}
	}
	delete(c.exportPolicies, id)
	delete(c.policyIDs, p.svm+"/"+p.name)
	return ok(map[string]any{})
}

// deleteExportRule removes one rule; the others keep their indexes (whether ONTAP renumbers
// them is UNCONFIRMED: clients that delete several go from the highest index down).
func (c *Cluster) deleteExportRule(r *request) response {
	p := c.exportPolicyOf(r)
	if p == nil {
		return fail(errNotFound("policy.id"))
	}
	index, _ := strconv.Atoi(r.vars["index"])
	i := slices.IndexFunc(p.rules, func(rule map[string]any) bool { return rule["index"] == index })
	if i < 0 {
		return fail(errNotFound("index"))
	}
	p.rules = slices.Delete(p.rules, i, i+1)
	return ok(map[string]any{})
}

func (c *Cluster) addExportPolicy(p *exportPolicy) {
	c.exportPolicies[p.id] = p
	c.policyIDs[p.svm+"/"+p.name] = p.id
}

// exportPolicyNamed finds an SVM's export policy by name; nil when there is none.
func (c *Cluster) exportPolicyNamed(svm, name string) *exportPolicy {
	id, ok := c.policyIDs[svm+"/"+name]
	if !ok {
		return nil
	}
	return c.exportPolicies[id]
}
