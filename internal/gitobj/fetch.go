package gitobj

import (
	"io"

	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// StoreUploadPack stores the packfile of an upload-pack response into s,
// through the side-band demultiplexer when req asked for one, and closes
// the response. Refs are the caller's to move, after the objects are in.
func StoreUploadPack(s storer.Storer, req *packp.UploadPackRequest, resp *packp.UploadPackResponse) error {
	var r io.Reader = resp
	switch {
	case req.Capabilities.Supports(capability.Sideband64k):
		r = sideband.NewDemuxer(sideband.Sideband64k, resp)
	case req.Capabilities.Supports(capability.Sideband):
		r = sideband.NewDemuxer(sideband.Sideband, resp)
	}
	err := packfile.UpdateObjectStorage(s, r)
	if cerr := resp.Close(); err == nil {
		err = cerr
	}
	return err
}
