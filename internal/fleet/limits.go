package fleet

import "errors"

// ErrLimit means an input is larger, or would take longer, than Flotilla
// accepts: a file, a YAML alias expansion, a template's output or loop, a
// build's output. The error wrapping it says which limit and where; the
// fix is to make the input smaller.
var ErrLimit = errors.New("limit exceeded")

// MaxFileSize is the largest file Flotilla reads: a fleet file, or a file
// of a repository read by a build.
const MaxFileSize = 16 << 20
