// Package durability holds the tests that prove Simple Drive's durability
// promises on the real binary: kill -9 at random moments under concurrent
// creates (local, database and s3 backends), replicas sharing PostgreSQL
// and S3, and the timings of fsck and gc. It has no code of its own.
//
// The tests build cmd/simpledrive, run it as a child process and
// synchronise on events (the server's "serving" log line, responses,
// process exits), never on sleeps. They are slow, so they run only with
// SIMPLEDRIVE_SLOW_TESTS=1, which scripts/test sets.
package durability
