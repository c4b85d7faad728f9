package fleet

import (
	"fmt"
	"strconv"

	"github.com/flotilla-dev/flotilla/internal/failure"
)

// Class is the kind of failure, named as Argo CD names it so that a user can
// look up the behaviour in Argo CD's documentation.
type Class string

// The failure classes. The first two mean the document itself is refused (as
// the Kubernetes API server would refuse it); the next two stop generation of
// the whole ApplicationSet; the last two concern single Applications.
const (
	ClassStrictDecoding        Class = "StrictDecodingError"
	ClassCRDValidation         Class = "CRDValidationError"
	ClassGenerationFromParams  Class = "ApplicationGenerationFromParamsError"
	ClassRenderTemplateParams  Class = "RenderTemplateParamsError"
	ClassApplicationValidation Class = "ApplicationValidationError"
	ClassUpdateApplication     Class = "UpdateApplicationError"
	ClassConfig                Class = "ConfigError"
	ClassInventory             Class = "InventoryError"
	ClassRender                Class = "RenderError"
	// ClassInvalidSpec is Argo CD's InvalidSpecError: the Application's
	// sources or destination break its spec rules or its AppProject.
	ClassInvalidSpec Class = "InvalidSpecError"
	// ClassProject is a rendered object the Application's AppProject does
	// not permit (Argo CD's sync would fail on it).
	ClassProject Class = "ProjectError"
)

// FileError is an input error that points at a file and, where known, a
// line. Its message reads "file:line: message".
type FileError struct {
	File  string
	Line  int // 0 when unknown
	Class Class
	Msg   string
	Err   error // optional cause
}

func (e *FileError) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line)
	}
	msg := e.Msg
	if e.Err != nil {
		if msg != "" {
			msg += ": "
		}
		msg += e.Err.Error()
	}
	if loc == "" {
		return msg
	}
	return loc + ": " + msg
}

func (e *FileError) Unwrap() error { return e.Err }

// FailureClass is failure.Input: the fleet is wrong. A cause that is a
// remote's failure (a git generator's repository out of reach) or an
// interruption keeps its class: the file is not at fault.
func (e *FileError) FailureClass() failure.Class {
	switch c := failure.ClassOf(e.Err); c {
	case failure.Remote, failure.Conflict, failure.Canceled:
		return c
	}
	return failure.Input
}

func errorf(file string, line int, class Class, format string, args ...any) *FileError {
	return &FileError{File: file, Line: line, Class: class, Msg: fmt.Sprintf(format, args...)}
}
