//go:build linux

package eio

import (
	"net"
	"sync"
	"syscall"
)

// reactor waits for idle websocket connections to become readable, all of
// them on one goroutine blocked in epoll_wait, so that an idle connection
// holds no goroutine (and no goroutine stack) of its own. When a parked
// connection becomes readable, the reactor starts a reader goroutine for it.
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
	epfd int
	wake [2]int // pipe: a byte on wake[1] stops the reactor goroutine

	mu     sync.Mutex
	next   uint64              // last key handed out; 0 is the wake pipe's
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
	r := &reactor{srv: srv, epfd: epfd, parked: make(map[uint64]*Session), done: make(chan struct{}), resume: (*Session).resumeReader}
	if err := syscall.Pipe2(r.wake[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		_ = syscall.Close(epfd)
		return nil
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, r.wake[0], &ev); err != nil {
		r.closeFDs()
		return nil
	}
	go r.run()
	return r
}

func (r *reactor) closeFDs() {
	_ = syscall.Close(r.epfd)
	_ = syscall.Close(r.wake[0])
	_ = syscall.Close(r.wake[1])
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
		n, err := syscall.EpollWait(r.epfd, events, -1)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			r.srv.log.Error("eio: epoll_wait failed; idle websockets go back to a goroutine each", "err", err)
			r.fail()
			r.closeFDs()
			return
		}
		for i := range events[:n] {
			key := eventKey(&events[i])
			if key == 0 {
				r.closeFDs()
				return
			}
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
	if stopped {
		<-r.done
		return
	}
	_, _ = syscall.Write(r.wake[1], []byte{0})
	<-r.done
}
