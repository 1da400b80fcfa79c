package flow

// settle waits for the background reads of stale documents under way, if
// any, to end.
func (r *resolver) settle() { r.background.Wait() }

// settle waits for the read of the keys under way, if any (such as a
// background read of a stale key set), to end.
func (k *keySet) settle() {
	k.mu.Lock()
	u := k.url
	k.mu.Unlock()
	<-k.group.DoChan(u, func() (any, error) { return nil, nil })
}
