package csi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// stagedVolume is what the node remembers of a volume it stages, in its state directory, so
// that a restarted plugin still knows which device and which iSCSI session belong to which
// volume: an unstage must detach the volume's device, and log out of a target when the last
// volume staged from it goes. It is written before the node attaches anything, so that an
// unstage after a stage that was cut short finds what to undo.
type stagedVolume struct {
	VolumeID    string `json:"volumeID"`
	StagingPath string `json:"stagingPath"`
	Protocol    string `json:"protocol"`
	// ReadOnly is what the stage asked for.
	ReadOnly bool `json:"readOnly"`
	// NFS: the export.
	Server string `json:"server,omitempty"`
	Export string `json:"export,omitempty"`
	// iSCSI: the target, the LUN and, once found, its device.
	Target ISCSITarget `json:"target,omitzero"`
	LUN    int         `json:"lun,omitempty"`
	Serial string      `json:"serial,omitempty"`
	Device string      `json:"device,omitempty"`
	FsType string      `json:"fsType,omitempty"`
}

// nodeState is the state directory: a JSON file per staged volume, written whole through a
// rename, so that a crash leaves either the old record or the new one.
type nodeState struct{ dir string }

func (s nodeState) path(volumeID string) string {
	return filepath.Join(s.dir, "staged", url.PathEscape(volumeID)+".json")
}

// load returns the volume's record; nil when there is none.
func (s nodeState) load(volumeID string) (*stagedVolume, error) {
	b, err := os.ReadFile(s.path(volumeID))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the state of volume %s: %w", volumeID, err)
	}
	var v stagedVolume
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("read the state of volume %s from %s: %w", volumeID, s.path(volumeID), err)
	}
	return &v, nil
}

func (s nodeState) save(v *stagedVolume) error {
	p := s.path(v.VolumeID)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write the state of volume %s: %w", v.VolumeID, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("write the state of volume %s: %w", v.VolumeID, err)
	}
	return nil
}

func (s nodeState) remove(volumeID string) error {
	if err := os.Remove(s.path(volumeID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("forget volume %s: %w", volumeID, err)
	}
	return nil
}

// usesTarget reports whether a volume other than except is staged from the iSCSI target iqn.
func (s nodeState) usesTarget(iqn, except string) (bool, error) {
	entries, err := os.ReadDir(filepath.Join(s.dir, "staged"))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("state directory: %w", err)
	}
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		if id, err = url.PathUnescape(id); err != nil || id == except {
			continue
		}
		v, err := s.load(id)
		if err != nil {
			return false, err
		}
		if v != nil && v.Protocol == protocolISCSI && v.Target.IQN == iqn {
			return true, nil
		}
	}
	return false, nil
}
