package sio_test

import (
	"context"
	"log"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"gatewayd/sio"
)

// A server with a chat-like main namespace: events with typed arguments,
// acks and rooms.
func Example() {
	srv := sio.NewServer(&sio.Options{PingInterval: 10 * time.Second})
	defer srv.Close()

	srv.Of("/").OnConnection(func(s *sio.Socket) {
		s.On("join", func(ev *sio.Event) {
			var room string
			if err := ev.Args.Decode(&room); err != nil {
				return
			}
			s.Join(room)
			_ = ev.Ack("joined", room)
		})
		s.On("say", func(ev *sio.Event) {
			var msg struct {
				Room string `json:"room"`
				Text string `json:"text"`
			}
			if err := ev.Args.Decode(&msg); err != nil {
				return
			}
			// Everyone in the room but the sender.
			_ = s.To(msg.Room).Emit("said", s.ID(), msg.Text)
		})
		s.OnDisconnect(func(reason string) { log.Printf("%s left: %s", s.ID(), reason) })
	})

	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	_ = http.ListenAndServe("127.0.0.1:8080", mux)
}

// Connection middleware refusing a client: the client's connect_error gets
// the message and the data.
func ExampleNamespace_Use() {
	srv := sio.NewServer(nil)
	defer srv.Close()
	srv.Of("/admin").Use(func(s *sio.Socket) error {
		var auth struct {
			Token string `json:"token"`
		}
		if err := s.Handshake().AuthInto(&auth); err != nil || auth.Token != "secret" {
			return &sio.ConnectError{Message: "unauthorized", Data: map[string]int{"code": 401}}
		}
		s.SetData(auth.Token)
		return nil
	})
}

// Asking a client and waiting for its answer, with a timeout.
func ExampleSocket_EmitWithAck() {
	srv := sio.NewServer(nil)
	defer srv.Close()
	srv.Of("/").OnConnection(func(s *sio.Socket) {
		go func() {
			reply, err := s.Timeout(5*time.Second).EmitWithAck(context.Background(), "confirm", "reboot?")
			if err != nil {
				log.Print(err) // sio.ErrAckTimeout, sio.ErrDisconnected or a ctx error
				return
			}
			var ok bool
			_ = reply.Decode(&ok)
			log.Print("confirmed: ", ok)
		}()
	})
}

// Broadcasting: a Broadcast is a value, derived with To, Except, Volatile…
// The packet is encoded once for every recipient.
func ExampleBroadcast() {
	srv := sio.NewServer(nil)
	defer srv.Close()
	devices := srv.Of("/devices")

	reading := map[string]any{"device": "t-1", "value": 21.5}
	_ = devices.To("device:t-1").Emit("reading", reading)
	_ = devices.To("device:t-1", "device:t-2").Except("muted").Volatile().Emit("tick")
	_ = devices.Emit("firmware", []byte{0xde, 0xad}) // []byte travels as a binary attachment

	replies, err := devices.To("device:t-1").Timeout(2*time.Second).EmitWithAck(context.Background(), "ping")
	log.Print(len(replies), err)

	devices.To("device:t-1").SocketsJoin("alerts")
	devices.In("alerts").DisconnectSockets(false)
}

// Dynamic namespaces: one child per matching name, sharing the handlers.
func ExampleServer_OfRegexp() {
	srv := sio.NewServer(nil)
	defer srv.Close()
	tenants := srv.OfRegexp(regexp.MustCompile(`^/tenant-[0-9]+$`))
	tenants.OnConnection(func(s *sio.Socket) {
		_ = s.Emit("hello", s.Namespace().Name())
	})
	_ = tenants.Emit("maintenance") // reaches every tenant namespace
}

// Connection state recovery: a dashboard that lost its connection for a
// moment gets the readings it missed; one that comes back too late is told
// to ask for history. Broadcast.Offset makes the database row id the
// Socket.IO offset, for a SessionStore reading missed events from the
// database.
func ExampleRecoveryOptions() {
	srv := sio.NewServer(&sio.Options{
		Recovery: &sio.RecoveryOptions{MaxDisconnectionDuration: 5 * time.Minute},
	})
	defer srv.Close()

	srv.Of("/").OnConnection(func(s *sio.Socket) {
		if s.Recovered() {
			return // same id, rooms and Data; missed events already sent
		}
		if err := s.RecoveryFailure(); err != nil {
			_ = s.Emit("resync", err.Error()) // e.g. send history instead
		}
		s.Join("device:t-1")
	})

	rowID := int64(42) // as assigned by the database
	_ = srv.Of("/").To("device:t-1").Offset(strconv.FormatInt(rowID, 10)).Emit("reading", 21.5)
}
