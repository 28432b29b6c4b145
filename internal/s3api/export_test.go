package s3api

import "time"

// SetCompleteSpacing makes CompleteMultipartUpload answer with spaces
// after wait, call completed when a completion has its result and spaced
// after each space flushed, until the returned function restores them. No
// server may run while it is called.
func SetCompleteSpacing(wait time.Duration, completed, spaced func()) (restore func()) {
	w, c, s := completeWait, testHookCompleted, testHookSpaced
	completeWait, testHookCompleted, testHookSpaced = wait, completed, spaced
	return func() { completeWait, testHookCompleted, testHookSpaced = w, c, s }
}
