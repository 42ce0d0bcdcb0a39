package apiserver

import (
	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
	"github.com/p4ctl/p4ctl/pkg/access"
)

// methodRoles is the role each RPC needs; an RPC not listed needs admin.
var methodRoles = map[string]access.Role{
	p4ctlv1.Controller_Get_FullMethodName:           access.RoleViewer,
	p4ctlv1.Controller_Devices_FullMethodName:       access.RoleViewer,
	p4ctlv1.Controller_Trace_FullMethodName:         access.RoleViewer,
	p4ctlv1.Controller_ClusterStatus_FullMethodName: access.RoleViewer,
	p4ctlv1.Controller_Watch_FullMethodName:         access.RoleViewer,
	p4ctlv1.Controller_Topology_FullMethodName:      access.RoleViewer,
	p4ctlv1.Controller_Counters_FullMethodName:      access.RoleViewer,
	p4ctlv1.Controller_Denials_FullMethodName:       access.RoleViewer,
	p4ctlv1.Controller_Flows_FullMethodName:         access.RoleViewer,
	p4ctlv1.Controller_FlowImpact_FullMethodName:    access.RoleViewer,
	p4ctlv1.Controller_StagedHits_FullMethodName:    access.RoleViewer,
	p4ctlv1.Controller_History_FullMethodName:       access.RoleViewer,
	p4ctlv1.Controller_Diff_FullMethodName:          access.RoleViewer,
	p4ctlv1.Controller_Rollback_FullMethodName:      access.RoleOperator,
	p4ctlv1.Controller_Apply_FullMethodName:         access.RoleOperator,
	p4ctlv1.Controller_Delete_FullMethodName:        access.RoleOperator,
	p4ctlv1.Controller_Join_FullMethodName:          access.RoleAdmin,
	p4ctlv1.Controller_Leave_FullMethodName:         access.RoleAdmin,
}

// RoleFor is the role a call of the full method name needs.
func RoleFor(method string) access.Role {
	if r, ok := methodRoles[method]; ok {
		return r
	}
	return access.RoleAdmin
}
