package httpapi

import (
	"context"
	"sync"
)

// Budget bounds the bytes all in-flight uploads may hold at once. It never
// blocks: a reservation that does not fit is refused at once, so the caller
// can answer 503 before reading a body. It is safe for concurrent use.
type Budget struct {
	mu    sync.Mutex
	limit int64
	used  int64
}

// NewBudget returns a budget of limit bytes.
func NewBudget(limit int64) *Budget { return &Budget{limit: limit} }

// TryAcquire reserves n bytes, reporting false, and reserving nothing, when
// they do not fit beside the bytes already reserved. A reservation larger
// than the whole budget is clamped to it, so that it is served alone rather
// than never.
func (b *Budget) TryAcquire(n int64) bool {
	n = b.clamp(n)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.limit {
		return false
	}
	b.used += n
	return true
}

// Release returns n bytes reserved by TryAcquire (clamped the same way).
func (b *Budget) Release(n int64) {
	n = b.clamp(n)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	if b.used < 0 {
		panic("httpapi: Budget released more than was acquired")
	}
}

// InUse returns the bytes currently reserved.
func (b *Budget) InUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

func (b *Budget) clamp(n int64) int64 { return min(max(n, 0), b.limit) }

type budgetKey struct{}

// withBudget returns ctx carrying b, for the handlers under [Guard].
func withBudget(ctx context.Context, b *Budget) context.Context {
	return context.WithValue(ctx, budgetKey{}, b)
}

// budgetFrom returns the budget of a request served under [Guard], or nil.
func budgetFrom(ctx context.Context) *Budget {
	b, _ := ctx.Value(budgetKey{}).(*Budget)
	return b
}
