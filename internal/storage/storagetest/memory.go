package storagetest

import "sync"

// Memory is a [storage.Memory] of Limit bytes for tests: it counts what is
// reserved and refuses what does not fit.
type Memory struct {
	Limit int64

	mu      sync.Mutex
	inUse   int64
	refused int
}

// TryAcquire implements [storage.Memory].
func (m *Memory) TryAcquire(n int64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.inUse+n > m.Limit {
		m.refused++
		return false
	}
	m.inUse += n
	return true
}

// Release implements [storage.Memory].
func (m *Memory) Release(n int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.inUse -= n
	if m.inUse < 0 {
		panic("storagetest: Memory released more than was reserved")
	}
}

// InUse returns the bytes reserved now.
func (m *Memory) InUse() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.inUse
}

// Refused returns how many reservations did not fit.
func (m *Memory) Refused() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.refused
}
