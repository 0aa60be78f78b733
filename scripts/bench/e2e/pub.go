package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// device is one simulated MQTT device: its own TCP connection to the broker,
// speaking MQTT 3.1.1 with packets encoded by the broker's packet library.
// A raw connection costs one reader goroutine, which keeps 1,000 devices
// cheap enough to leave the load generator's core for the dashboards.
type device struct {
	id     string
	topic  string
	conn   net.Conn
	qos    byte
	nextID uint16
	buf    bytes.Buffer
	acks   atomic.Int64
	closed atomic.Bool
}

// dialDevice connects a device to the broker at addr and waits for CONNACK.
func dialDevice(ctx context.Context, addr, id string, qos byte) (*device, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	dev := &device{id: id, topic: "devices/" + id + "/telemetry", conn: c, qos: qos}
	pk := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Connect},
		ProtocolVersion: 4,
		Connect: packets.ConnectParams{
			ProtocolName:     []byte("MQTT"),
			ClientIdentifier: "e2e-" + id,
			Keepalive:        300,
			Clean:            true,
		},
	}
	var b bytes.Buffer
	if err := pk.ConnectEncode(&b); err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(b.Bytes()); err != nil {
		c.Close()
		return nil, err
	}
	// CONNACK is 4 bytes: 0x20, 2, session present, return code.
	var ack [4]byte
	if _, err := io.ReadFull(c, ack[:]); err != nil {
		c.Close()
		return nil, fmt.Errorf("e2e: connack of %s: %w", id, err)
	}
	if ack[0] != 0x20 || ack[3] != 0 {
		c.Close()
		return nil, fmt.Errorf("e2e: broker refused %s: connack % x", id, ack)
	}
	_ = c.SetDeadline(time.Time{})
	go dev.readLoop()
	return dev, nil
}

// readLoop consumes what the broker sends (PUBACKs for QoS 1) until the
// connection closes or sends something malformed, counting acknowledgements.
func (d *device) readLoop() {
	r := bufio.NewReader(d.conn)
	for {
		typ, n, err := readHeader(r)
		if err == nil {
			_, err = r.Discard(n)
		}
		if err != nil {
			d.closed.Store(true)
			_ = d.conn.Close()
			return
		}
		if typ == packets.Puback {
			d.acks.Add(1)
		}
	}
}

// errBadLength means a packet's remaining length runs over four bytes.
var errBadLength = errors.New("e2e: malformed MQTT remaining length")

// readHeader reads an MQTT fixed header: the packet type and the remaining
// length (one to four 7-bit groups, low group first).
func readHeader(r io.ByteReader) (typ byte, n int, err error) {
	h, err := r.ReadByte()
	if err != nil {
		return 0, 0, err
	}
	mul := 1
	for i := 0; ; i++ {
		if i == 4 {
			return 0, 0, errBadLength
		}
		b, err := r.ReadByte()
		if err != nil {
			return 0, 0, err
		}
		n += int(b&0x7f) * mul
		mul *= 128
		if b&0x80 == 0 {
			return h >> 4, n, nil
		}
	}
}

// publish sends one telemetry message {"seq":v}. Only the device's own
// publisher goroutine calls it.
func (d *device) publish(v int64) error {
	d.buf.Reset()
	pk := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Publish, Qos: d.qos},
		ProtocolVersion: 4,
		TopicName:       d.topic,
		Payload:         strconv.AppendInt([]byte(`{"seq":`), v, 10),
	}
	pk.Payload = append(pk.Payload, '}')
	if d.qos > 0 {
		d.nextID++
		if d.nextID == 0 {
			d.nextID = 1
		}
		pk.PacketID = d.nextID
	}
	if err := pk.PublishEncode(&d.buf); err != nil {
		return err
	}
	_, err := d.conn.Write(d.buf.Bytes())
	return err
}

// close sends DISCONNECT and closes the connection.
func (d *device) close() {
	_, _ = d.conn.Write([]byte{0xe0, 0})
	_ = d.conn.Close()
}

// dialDevices connects n devices named <prefix>0000.. with bounded concurrency.
func dialDevices(ctx context.Context, addr, prefix string, n int, qos byte) ([]*device, error) {
	devs := make([]*device, n)
	errs := make(chan error, n)
	sem := make(chan struct{}, 50)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			d, err := dialDevice(ctx, addr, fmt.Sprintf("%s%04d", prefix, i), qos)
			if err != nil {
				errs <- err
				return
			}
			devs[i] = d
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		for _, d := range devs {
			if d != nil {
				d.close()
			}
		}
		return nil, err
	}
	return devs, nil
}

// load describes the publishing of one phase.
type load struct {
	total        float64       // readings per second over all devices
	duration     time.Duration // publishing time
	burstEvery   time.Duration // 0: no bursts
	burstDevices int           // devices bursting at each burst
	burstSize    int           // extra readings each bursting device sends back to back
	workers      int           // publisher goroutines
}

// perDeviceCap is the most readings one device can send in a phase.
func (l load) perDeviceCap(n int) int {
	c := int(l.total/float64(n)*l.duration.Seconds()) + 2
	if l.burstEvery > 0 {
		c += (int(l.duration/l.burstEvery) + 1) * l.burstSize
	}
	return c
}

// publishPhase runs the publishers of a phase: each worker owns every
// workers-th device and paces itself on the wall clock (every tick it sends
// what is due), so a slow tick is caught up rather than lost. send is called
// with the device index and whether the reading belongs to a burst, and
// returns the value to publish, or false when the
// device has no room left. It returns the readings published.
func publishPhase(ctx context.Context, devs []*device, l load, send func(dev int, burst bool) (int64, bool)) (int64, error) {
	w := l.workers
	if w <= 0 {
		w = 4
	}
	if w > len(devs) {
		w = len(devs)
	}
	var total atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for k := range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []int
			for i := k; i < len(devs); i += w {
				mine = append(mine, i)
			}
			rate := l.total * float64(len(mine)) / float64(len(devs))
			pub := func(i int, burst bool) bool {
				v, ok := send(i, burst)
				if !ok {
					return true
				}
				if err := devs[i].publish(v); err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("e2e: publish %s: %w", devs[i].id, err) })
					return false
				}
				total.Add(1)
				return true
			}
			tick := time.NewTicker(2 * time.Millisecond)
			defer tick.Stop()
			var sent int64
			next := 0
			bursts := 0
			for {
				el := time.Since(start)
				if el >= l.duration {
					return
				}
				due := int64(el.Seconds() * rate)
				for ; sent < due; sent++ {
					if !pub(mine[next], false) {
						return
					}
					next = (next + 1) % len(mine)
				}
				// A burst: a few of this worker's devices each send a run of
				// readings at once, on top of their regular rate.
				if l.burstEvery > 0 && el >= time.Duration(bursts+1)*l.burstEvery-l.burstEvery/2 {
					bursts++
					nb := (l.burstDevices + w - 1 - k) / w
					for j := 0; j < nb && j < len(mine); j++ {
						i := mine[(bursts*7919+j*31)%len(mine)]
						for range l.burstSize {
							if !pub(i, true) {
								return
							}
						}
					}
				}
				select {
				case <-ctx.Done():
					errOnce.Do(func() { firstErr = ctx.Err() })
					return
				case <-tick.C:
				}
			}
		}()
	}
	wg.Wait()
	if firstErr == nil {
		for _, d := range devs {
			if d.closed.Load() {
				firstErr = errors.New("e2e: broker closed the connection of " + d.id)
				break
			}
		}
	}
	return total.Load(), firstErr
}
