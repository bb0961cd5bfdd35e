package ontap

import (
	"context"
	"fmt"
	"slices"

	"github.com/go-openapi/runtime"

	"github.com/snapmirror-csi/snapmirror-csi/ontap/rest/client/cluster"
	"github.com/snapmirror-csi/snapmirror-csi/ontap/rest/client/storage"
	"github.com/snapmirror-csi/snapmirror-csi/ontap/rest/client/svm"
	"github.com/snapmirror-csi/snapmirror-csi/ontap/rest/models"
)

// ClusterInfo identifies an ONTAP cluster.
type ClusterInfo struct {
	Name, UUID, Version string
}

// SVM is a data SVM.
type SVM struct {
	Name, UUID, State string
	// Aggregates are those assigned to the SVM.
	Aggregates []string
}

// Aggregate is a storage aggregate.
type Aggregate struct {
	Name, State     string
	Size, Available int64
}

// SVMPeer is an SVM peering as the local SVM sees it.
type SVMPeer struct {
	// SVM is the local SVM; PeerSVM the remote one, by its local alias; PeerCluster its cluster.
	SVM, PeerSVM, PeerCluster string
	State                     string
	Applications              []string
}

// Peered reports whether the peering is in effect for SnapMirror.
func (p SVMPeer) Peered() bool {
	return p.State == "peered" && slices.Contains(p.Applications, "snapmirror")
}

// Cluster returns the cluster's identity; it doubles as a reachability probe.
func (c *Client) Cluster(ctx context.Context) (*ClusterInfo, error) {
	resp, err := c.api.Cluster.ClusterGetContext(ctx, cluster.NewClusterGetParams().WithFields([]string{"name", "uuid", "version.full"}), nil)
	if err != nil {
		return nil, fmt.Errorf("get cluster: %w", apiError(err))
	}
	info := &ClusterInfo{Name: resp.Payload.Name, UUID: resp.Payload.UUID}
	if resp.Payload.Version != nil {
		info.Version = resp.Payload.Version.Full
	}
	return info, nil
}

// GetSVM finds a data SVM by name, or fails with ErrNotFound.
func (c *Client) GetSVM(ctx context.Context, name string) (*SVM, error) {
	params := svm.NewSvmCollectionGetParams().WithName(&name).WithFields([]string{"name", "uuid", "state", "aggregates.name"})
	found, err := first(listAll(func(o ...func(*runtime.ClientOperation)) ([]*models.Svm, *models.CollectionLinks, error) {
		resp, err := c.api.Svm.SvmCollectionGetContext(ctx, params, nil, opts[svm.ClientOption](o)...)
		if err != nil {
			return nil, nil, err
		}
		return resp.Payload.Records, resp.Payload.Links, nil
	}, infallible(func(r *models.Svm) SVM {
		s := SVM{Name: r.Name, UUID: r.UUID, State: r.State}
		for _, a := range r.Aggregates {
			s.Aggregates = append(s.Aggregates, a.Name)
		}
		return s
	})))
	if err != nil {
		return nil, fmt.Errorf("get SVM %s: %w", name, err)
	}
	return found, nil
}

// GetAggregate finds an aggregate by name, or fails with ErrNotFound.
func (c *Client) GetAggregate(ctx context.Context, name string) (*Aggregate, error) {
	params := storage.NewAggregateCollectionGetParams().WithName(&name).
		WithFields([]string{"name", "state", "space.block_storage.size", "space.block_storage.available"})
	found, err := first(listAll(func(o ...func(*runtime.ClientOperation)) ([]*models.Aggregate, *models.CollectionLinks, error) {
		resp, err := c.api.Storage.AggregateCollectionGetContext(ctx, params, nil, opts[storage.ClientOption](o)...)
		if err != nil {
			return nil, nil, err
		}
		return resp.Payload.Records, resp.Payload.Links, nil
	}, infallible(func(r *models.Aggregate) Aggregate {
		a := Aggregate{Name: r.Name, State: r.State}
		if r.Space != nil && r.Space.BlockStorage != nil {
			a.Size, a.Available = r.Space.BlockStorage.Size, r.Space.BlockStorage.Available
		}
		return a
	})))
	if err != nil {
		return nil, fmt.Errorf("get aggregate %s: %w", name, err)
	}
	return found, nil
}

// SVMPeers lists the peerings of the local SVM.
func (c *Client) SVMPeers(ctx context.Context, svmName string) ([]SVMPeer, error) {
	params := svm.NewSvmPeerCollectionGetParams().WithSvmName(&svmName).WithMaxRecords(c.pageSize).
		WithFields([]string{"svm.name", "peer.svm.name", "peer.cluster.name", "state", "applications"})
	peers, err := listAll(func(o ...func(*runtime.ClientOperation)) ([]*models.SvmPeer, *models.CollectionLinks, error) {
		resp, err := c.api.Svm.SvmPeerCollectionGetContext(ctx, params, nil, opts[svm.ClientOption](o)...)
		if err != nil {
			return nil, nil, err
		}
		return resp.Payload.Records, resp.Payload.Links, nil
	}, infallible(svmPeerFromModel))
	if err != nil {
		return nil, fmt.Errorf("list SVM peers of %s: %w", svmName, err)
	}
	return peers, nil
}

func svmPeerFromModel(r *models.SvmPeer) SVMPeer {
	p := SVMPeer{State: r.State, Applications: r.Applications}
	if r.Svm != nil {
		p.SVM = r.Svm.Name
	}
	if r.Peer != nil {
		if r.Peer.Svm != nil {
			p.PeerSVM = r.Peer.Svm.Name
		}
		if r.Peer.Cluster != nil {
			p.PeerCluster = r.Peer.Cluster.Name
		}
	}
	return p
}
