//go:build linux

package eio

import (
	"net"
	"os"
	"sync"
	"syscall"
)

// reactor waits for idle websocket connections to become readable, all of
// them in one epoll set, so that an idle connection holds no goroutine (and
// no goroutine stack) of its own. When a parked connection becomes
// readable, the reactor starts a reader goroutine for it.
//
// The epoll descriptor is itself waited on by the Go runtime's poller, as a
// socket is: the reactor goroutine sleeps there rather than in a blocking
// epoll_wait, so a wake-up costs no thread of its own and no hand-over of
// the processor, which a busy server with one CPU would feel on every
// message.
//
// A registration carries a key, never the file descriptor alone: a
// descriptor closed and reused by another connection wakes nothing that
// belongs to the old one, because the old key is no longer in parked.
// Closing a descriptor removes it from the epoll set, and forget removes
// the key, so a closed session never gets a read from here.
//
// Lock order: Session.mu → reactor.mu. The reactor goroutine takes
// reactor.mu alone, and starts readers after releasing it.
type reactor struct {
	srv  *Server
	ep   *os.File // the epoll descriptor, polled by the runtime
	rc   syscall.RawConn
	epfd int

	mu     sync.Mutex
	next   uint64              // last key handed out
	parked map[uint64]*Session // by key
	broken bool                // no new registrations: stopped or failed
	done   chan struct{}       // closed when the goroutine has returned

	// resume runs on a new goroutine for a parked session whose
	// connection became readable; tests replace it before parking.
	resume func(*Session)
}

// Events of a parked connection. Level-triggered and one-shot: data that
// arrived before the registration still wakes it, and it wakes once.
const parkEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

// newReactor returns a running reactor, or nil when epoll is not available.
func newReactor(srv *Server) *reactor {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil
	}
	// Non-blocking, so that os.NewFile hands it to the runtime's poller.
	if err := syscall.SetNonblock(epfd, true); err != nil {
		_ = syscall.Close(epfd)
		return nil
	}
	ep := os.NewFile(uintptr(epfd), "eio-reactor")
	rc, err := ep.SyscallConn()
	if err != nil {
		_ = ep.Close()
		return nil
	}
	r := &reactor{
		srv:    srv,
		ep:     ep,
		rc:     rc,
		epfd:   epfd,
		parked: make(map[uint64]*Session),
		done:   make(chan struct{}),
		resume: (*Session).resumeReader,
	}
	go r.run()
	return r
}

// setKey and eventKey put a key into, and take it out of, the 64-bit data
// of an epoll event, which the syscall package splits into two fields.
func setKey(ev *syscall.EpollEvent, key uint64) {
	ev.Fd = int32(uint32(key))
	ev.Pad = int32(uint32(key >> 32))
}

func eventKey(ev *syscall.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

// park registers ss's websocket connection raw, to start ss's reader when
// raw becomes readable. It reports false when raw cannot be watched (not a
// socket with a descriptor, already closed, or the reactor stopped); the
// caller then keeps waiting on a goroutine. The caller holds ss.mu, so that
// a close cannot slip in between its check of the session's state and the
// registration.
func (r *reactor) park(ss *Session, raw net.Conn) bool {
	sc, ok := raw.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.broken {
		return false
	}
	if ss.rkey != 0 {
		delete(r.parked, ss.rkey)
		ss.rkey = 0
	}
	r.next++
	key := r.next
	var ctlErr error
	// Control holds a reference on the descriptor, so it cannot be closed
	// and reused while it is being registered.
	err = rc.Control(func(fd uintptr) {
		ev := syscall.EpollEvent{Events: parkEvents}
		setKey(&ev, key)
		op := syscall.EPOLL_CTL_ADD
		if ss.epollAdded {
			op = syscall.EPOLL_CTL_MOD
		}
		ctlErr = syscall.EpollCtl(r.epfd, op, int(fd), &ev)
		switch {
		case ctlErr == syscall.EEXIST:
			ctlErr = syscall.EpollCtl(r.epfd, syscall.EPOLL_CTL_MOD, int(fd), &ev)
		case ctlErr == syscall.ENOENT:
			ctlErr = syscall.EpollCtl(r.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
		}
	})
	if err != nil || ctlErr != nil {
		return false
	}
	ss.epollAdded = true
	ss.rkey = key
	r.parked[key] = ss
	return true
}

// forget drops ss's registration, if any: its reader is never started by
// the reactor afterwards.
func (r *reactor) forget(ss *Session) {
	r.mu.Lock()
	if ss.rkey != 0 {
		delete(r.parked, ss.rkey)
		ss.rkey = 0
	}
	r.mu.Unlock()
}

func (r *reactor) run() {
	defer close(r.done)
	events := make([]syscall.EpollEvent, 128)
	for {
		var n int
		var werr error
		err := r.rc.Read(func(fd uintptr) bool {
			for {
				n, werr = syscall.EpollWait(int(fd), events, 0)
				if werr != syscall.EINTR {
					break
				}
			}
			// Nothing ready: wait in the runtime's poller until the epoll
			// descriptor is readable.
			return n > 0 || werr != nil
		})
		if err == nil {
			err = werr
		}
		if err != nil {
			r.mu.Lock()
			stopping := r.broken
			r.mu.Unlock()
			if !stopping {
				r.srv.log.Error("eio: epoll_wait failed; idle websockets go back to a goroutine each", "err", err)
				r.fail()
				_ = r.ep.Close()
			}
			return
		}
		for i := range events[:n] {
			key := eventKey(&events[i])
			r.mu.Lock()
			ss := r.parked[key]
			if ss != nil {
				delete(r.parked, key)
				ss.rkey = 0
				// Added under mu: a session being closed calls forget,
				// which waits for mu, before it can finish and let the
				// server's WaitGroup reach zero.
				r.srv.wg.Add(1)
			}
			r.mu.Unlock()
			if ss != nil {
				go func() {
					defer r.srv.wg.Done()
					r.resume(ss)
				}()
			}
		}
	}
}

// fail stops registrations and starts the reader of every parked session.
func (r *reactor) fail() {
	r.mu.Lock()
	r.broken = true
	all := make([]*Session, 0, len(r.parked))
	for key, ss := range r.parked {
		ss.rkey = 0
		delete(r.parked, key)
		all = append(all, ss)
		r.srv.wg.Add(1)
	}
	r.mu.Unlock()
	for _, ss := range all {
		go func() {
			defer r.srv.wg.Done()
			r.resume(ss)
		}()
	}
}

// stop ends the reactor goroutine and waits for it. Every session must be
// closed already.
func (r *reactor) stop() {
	r.mu.Lock()
	stopped := r.broken
	r.broken = true
	r.mu.Unlock()
	if !stopped {
		// Wakes the goroutine out of the poller with an error.
		_ = r.ep.Close()
	}
	<-r.done
}
