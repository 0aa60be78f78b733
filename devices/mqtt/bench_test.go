package mqtt_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"gatewayd/devices"
	"gatewayd/devices/mqtt"
)

// BenchmarkRoute measures the Source's router without a broker: convention
// matching, parsing, presence and rate-limit bookkeeping, emit.
func BenchmarkRoute(b *testing.B) {
	s, err := mqtt.New(&mqtt.Options{Logger: quietLogger(), RateLimit: -1})
	if err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	s.Offline(func(u devices.Update) {
		if u.Reading != nil {
			n.Add(1)
		}
	})
	topics := make([]string, 100)
	for i := range topics {
		topics[i] = fmt.Sprintf("devices/dev%d/telemetry", i)
	}
	payload := []byte(`{"temperature":21.5}`)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		s.Inject(topics[i%len(topics)], payload, false)
	}
	b.ReportMetric(float64(n.Load())/time.Since(start).Seconds(), "readings/s")
}

// BenchmarkEndToEnd publishes telemetry with paho clients through the
// embedded broker and counts the normalised readings that come out: one
// op is one published message carrying one reading.
//
// "raw" publishers write pre-encoded QoS 0 PUBLISH packets over plain TCP,
// as devices on other machines would, so the figure is the gateway's cost
// (broker + routing + normalising) rather than a Go client's in the same
// process; "paho" publishers go through paho.mqtt.golang.
func BenchmarkEndToEnd(b *testing.B) {
	b.Run("raw-qos0", benchRaw)
	for _, qos := range []byte{0, 1} {
		b.Run(fmt.Sprintf("paho-qos%d", qos), func(b *testing.B) { benchEndToEnd(b, qos) })
	}
}

// benchSource starts an embedded-broker Source counting readings.
func benchSource(b *testing.B) (*mqtt.Source, *atomic.Int64, func()) {
	s, err := mqtt.New(&mqtt.Options{Mode: mqtt.ModeEmbedded, Listen: "127.0.0.1:0", GatewayID: "bench", Logger: quietLogger(), RateLimit: -1})
	if err != nil {
		b.Fatal(err)
	}
	got := new(atomic.Int64)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.Run(ctx, func(u devices.Update) {
			if u.Reading != nil {
				got.Add(1)
			}
		})
	}()
	<-s.Ready()
	return s, got, func() { cancel(); <-done }
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// waitReadings waits for b.N readings and reports readings per wall-clock
// second and per CPU-second of the whole process (broker, source and
// publishers), the latter being meaningful on a shared, loaded machine.
func waitReadings(b *testing.B, got *atomic.Int64, start time.Time, cpu0 time.Duration) {
	deadline := time.Now().Add(60 * time.Second)
	for got.Load() < int64(b.N) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Microsecond)
	}
	el := time.Since(start)
	b.StopTimer()
	if got.Load() < int64(b.N) {
		b.Fatalf("only %d of %d readings arrived", got.Load(), b.N)
	}
	b.ReportMetric(float64(got.Load())/el.Seconds(), "readings/s")
	b.ReportMetric(float64(got.Load())/(cpuTime()-cpu0).Seconds(), "readings/cpu-s")
}

// encodePublish appends an MQTT 3.1.1 QoS 0 PUBLISH packet.
func encodePublish(dst []byte, topic string, payload []byte) []byte {
	n := 2 + len(topic) + len(payload)
	dst = append(dst, 0x30)
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		dst = append(dst, d)
		if n == 0 {
			break
		}
	}
	dst = append(dst, byte(len(topic)>>8), byte(len(topic)))
	dst = append(dst, topic...)
	return append(dst, payload...)
}

// dialRaw connects to the broker at addr over plain TCP as an MQTT 3.1.1
// client with a clean session, and waits for the broker's acceptance.
func dialRaw(tb testing.TB, addr, id string) net.Conn {
	tb.Helper()
	return connectRaw(tb, addr, 0x02, id)
}

// connectRaw connects to the broker at addr over plain TCP with an MQTT
// 3.1.1 CONNECT of the given connect flags and payload fields (the client
// id, then the will topic and message when flags ask for a will), and waits
// for the broker's acceptance.
func connectRaw(tb testing.TB, addr string, flags byte, fields ...string) net.Conn {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	body := []byte{0, 4, 'M', 'Q', 'T', 'T', 4, flags, 0, 60}
	for _, f := range fields {
		body = append(body, byte(len(f)>>8), byte(len(f)))
		body = append(body, f...)
	}
	if _, err := c.Write(append([]byte{0x10, byte(len(body))}, body...)); err != nil {
		tb.Fatal(err)
	}
	ack := make([]byte, 4)
	if _, err := io.ReadFull(c, ack); err != nil || ack[0] != 0x20 || ack[3] != 0 {
		tb.Fatalf("connack %v %v", ack, err)
	}
	return c
}

func benchRaw(b *testing.B) {
	s, got, stop := benchSource(b)
	defer stop()
	const publishers = 4
	conns := make([]net.Conn, publishers)
	for i := range conns {
		c := dialRaw(b, s.BrokerAddr(), fmt.Sprintf("raw-%d", i))
		defer c.Close()
		conns[i] = c
	}
	// A batch of 256 messages per write, spread over 50 devices per publisher.
	batches := make([][]byte, publishers)
	for p := range batches {
		for i := range 256 {
			batches[p] = encodePublish(batches[p], fmt.Sprintf("devices/r%d-%d/telemetry", p, i%50), fmt.Appendf(nil, `{"temperature":%d.5}`, i))
		}
	}
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	var wg sync.WaitGroup
	for p, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			share := b.N / publishers
			if p < b.N%publishers {
				share++
			}
			for share > 0 {
				k := min(share, 256)
				// Cut the batch after k packets.
				buf, off := batches[p], 0
				for range k {
					l, shift, i := 0, 0, off+1
					for {
						d := buf[i]
						l |= int(d&0x7f) << shift
						shift += 7
						i++
						if d&0x80 == 0 {
							break
						}
					}
					off = i + l
				}
				if _, err := c.Write(buf[:off]); err != nil {
					b.Error(err)
					return
				}
				share -= k
			}
		}()
	}
	wg.Wait()
	waitReadings(b, got, start, cpu0)
}

func benchEndToEnd(b *testing.B, qos byte) {
	s, got, stop := benchSource(b)
	defer stop()
	const publishers = 4
	clients := make([]paho.Client, publishers)
	for i := range clients {
		o := paho.NewClientOptions().AddBroker("tcp://" + s.BrokerAddr()).SetClientID(fmt.Sprintf("bench-%d", i)).
			SetOrderMatters(false).SetMaxResumePubInFlight(1000).SetStore(mqtt.NewCopyStore())
		c := paho.NewClient(o)
		if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			b.Fatal(tok.Error())
		}
		defer c.Disconnect(50)
		clients[i] = c
	}
	payloads := make([][]byte, 64)
	for i := range payloads {
		payloads[i] = fmt.Appendf(nil, `{"temperature":%d.5}`, i)
	}
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	var wg sync.WaitGroup
	for p, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last paho.Token
			for i := p; i < b.N; i += publishers {
				last = c.Publish(fmt.Sprintf("devices/d%d-%d/telemetry", p, i%50), qos, false, payloads[i%len(payloads)])
				if qos == 1 && i%512 == p {
					last.Wait() // bound the in-flight window
				}
			}
			if last != nil {
				last.Wait()
			}
		}()
	}
	wg.Wait()
	waitReadings(b, got, start, cpu0)
}

// BenchmarkBrokerClientMemory connects 500 idle raw MQTT clients to the
// embedded broker and reports the live heap each one costs the process
// (after forced collections), the figure that grows with a fleet's size.
func BenchmarkBrokerClientMemory(b *testing.B) {
	const clients = 500
	for range b.N {
		s, _, stop := benchSource(b)
		heap := func() uint64 {
			var ms runtime.MemStats
			runtime.GC()
			runtime.GC()
			runtime.ReadMemStats(&ms)
			return ms.HeapAlloc
		}
		before := heap()
		conns := make([]net.Conn, 0, clients)
		for i := range clients {
			conns = append(conns, dialRaw(b, s.BrokerAddr(), fmt.Sprintf("mem-%d", i)))
		}
		after := heap()
		b.ReportMetric(float64(after-before)/clients, "heapB/client")
		for _, c := range conns {
			c.Close()
		}
		stop()
	}
}
