package mqtt

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Errors of the embedded broker's access control.
var (
	// ErrBadHash means a password hash is not in the
	// "pbkdf2-sha256$<iterations>$<salt>$<key>" format.
	ErrBadHash = errors.New("mqtt: malformed password hash")
	// ErrBadUser means an entry of Options.Users is unusable (empty or
	// duplicate username, username with a wildcard or '/', invalid filter).
	ErrBadUser = errors.New("mqtt: bad broker user")
)

// User is one MQTT account of the embedded broker, usually one per device.
// Publish and Subscribe are topic filters; "%u" in a filter stands for the
// username. An empty list means the defaults of DefaultPublish and
// DefaultSubscribe; a non-empty list replaces them.
type User struct {
	// Username is what the device sends in CONNECT; no '/', '+' or '#'.
	Username string
	// PasswordHash is "pbkdf2-sha256$<iterations>$<salt>$<key>" (base64url
	// without padding), as printed by HashPassword or `gatewayd hash-password`.
	PasswordHash string
	// Publish lists the filters the user may publish to (and set its last
	// will on); default DefaultPublish.
	Publish []string
	// Subscribe lists the filters the user may subscribe to and receive
	// from; default DefaultSubscribe.
	Subscribe []string
}

// DefaultPublish are the filters a user may publish to when User.Publish is
// empty: its own generic and Tasmota topics.
var DefaultPublish = []string{"devices/%u/#", "tele/%u/#", "stat/%u/#"}

// DefaultSubscribe are the filters a user may subscribe to when
// User.Subscribe is empty: its own command topics.
var DefaultSubscribe = []string{"devices/%u/commands/#", "cmnd/%u/#"}

// Work factor bounds accepted in hashes: below the minimum a hash is too
// cheap to brute-force safely, above the maximum a login would stall a board.
const (
	minHashIter = 1000
	maxHashIter = 10_000_000
	// hashIter is the work factor of HashPassword, the same as the
	// dashboard's: about 0.1 s on a Raspberry Pi 4.
	hashIter = 120_000
)

// HashPassword returns a self-describing PBKDF2-SHA256 hash of password for
// User.PasswordHash: "pbkdf2-sha256$<iterations>$<salt>$<key>".
func HashPassword(password string) (string, error) {
	salt := make([]byte, 16)
	rand.Read(salt)
	key, err := pbkdf2.Key(sha256.New, password, salt, hashIter, 32)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	return fmt.Sprintf("pbkdf2-sha256$%d$%s$%s", hashIter, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// parsedHash is a decoded password hash.
type parsedHash struct {
	iter      int
	salt, key []byte
}

func parseHash(hash string) (parsedHash, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 4 || parts[0] != "pbkdf2-sha256" {
		return parsedHash{}, fmt.Errorf("%w: expected pbkdf2-sha256$<iterations>$<salt>$<key>", ErrBadHash)
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < minHashIter || iter > maxHashIter {
		return parsedHash{}, fmt.Errorf("%w: iterations must be a number from %d to %d", ErrBadHash, minHashIter, maxHashIter)
	}
	enc := base64.RawURLEncoding
	salt, err1 := enc.DecodeString(parts[2])
	key, err2 := enc.DecodeString(parts[3])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 || len(key) > 64 {
		return parsedHash{}, fmt.Errorf("%w: salt (8+ bytes) and key (16 to 64 bytes) must be base64url without padding", ErrBadHash)
	}
	return parsedHash{iter: iter, salt: salt, key: key}, nil
}

// CheckHash reports whether hash is a well-formed password hash (nil) or
// why not (an error wrapping ErrBadHash). Configuration checks use it.
func CheckHash(hash string) error {
	_, err := parseHash(hash)
	return err
}

func (h parsedHash) matches(password []byte) bool {
	got, err := pbkdf2.Key(sha256.New, string(password), h.salt, h.iter, len(h.key))
	return err == nil && subtle.ConstantTimeCompare(got, h.key) == 1
}

// validUsername rejects names that would turn "%u" into a wildcard or a
// different topic level.
func validUsername(u string) bool {
	return u != "" && !strings.ContainsAny(u, "/+#\x00")
}

// userRule is a User ready for checks.
type userRule struct {
	hash      parsedHash
	publish   []string
	subscribe []string
}

// authHook is the embedded broker's authentication and ACL hook. With no
// users it lets everyone in (anonymous) and only guards sessions. mochi's
// own auth.Ledger compares plain-text passwords and walks ACL maps in random
// order, so it does not fit salted hashes and predictable rules.
type authHook struct {
	mochi.HookBase
	users     map[string]*userRule
	anonymous bool
	// clients looks up a client id's current session (the server's
	// Clients.Get).
	clients func(id string) (*mochi.Client, bool)

	// verified remembers, per user, an HMAC of the last password that
	// matched, so a device reconnecting in a loop costs one HMAC rather
	// than a PBKDF2 run each time.
	mu       sync.Mutex
	verified map[string][]byte
	macKey   []byte
	// slots bounds concurrent PBKDF2 runs so a storm of bad logins cannot
	// take every core.
	slots chan struct{}
}

func newAuthHook(users []User, anonymous bool) (*authHook, error) {
	h := &authHook{users: map[string]*userRule{}, anonymous: anonymous, verified: map[string][]byte{},
		macKey: make([]byte, 32), slots: make(chan struct{}, 2)}
	rand.Read(h.macKey)
	for i, u := range users {
		if !validUsername(u.Username) {
			return nil, fmt.Errorf("%w: users[%d]: username %q must be non-empty without '/', '+' or '#'", ErrBadUser, i, u.Username)
		}
		if _, dup := h.users[u.Username]; dup {
			return nil, fmt.Errorf("%w: users[%d]: duplicate username %q", ErrBadUser, i, u.Username)
		}
		ph, err := parseHash(u.PasswordHash)
		if err != nil {
			return nil, fmt.Errorf("users[%d] (%s): %w", i, u.Username, err)
		}
		r := &userRule{hash: ph}
		if r.publish, err = expandFilters(u.Publish, DefaultPublish, u.Username); err != nil {
			return nil, fmt.Errorf("%w: users[%d] (%s): publish: %v", ErrBadUser, i, u.Username, err)
		}
		if r.subscribe, err = expandFilters(u.Subscribe, DefaultSubscribe, u.Username); err != nil {
			return nil, fmt.Errorf("%w: users[%d] (%s): subscribe: %v", ErrBadUser, i, u.Username, err)
		}
		h.users[u.Username] = r
	}
	return h, nil
}

func expandFilters(fs, def []string, user string) ([]string, error) {
	if len(fs) == 0 {
		fs = def
	}
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		f = strings.ReplaceAll(f, "%u", user)
		if !mochi.IsValidFilter(f, false) {
			return nil, fmt.Errorf("invalid topic filter %q", f)
		}
		out = append(out, f)
	}
	return out, nil
}

// ID names the hook in mochi's logs.
func (h *authHook) ID() string { return "gatewayd-auth" }

// Provides tells mochi which events the hook handles.
func (h *authHook) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}

// OnConnectAuthenticate accepts a known user with the right password and a
// last will on a topic it may publish to, and anonymous clients only when
// allowed; neither may take over a session another user holds.
func (h *authHook) OnConnectAuthenticate(cl *mochi.Client, pk packets.Packet) bool {
	name := string(cl.Properties.Username)
	if h.clients != nil {
		// Taking over a client id inherits its session and sends its last
		// will, so it would let one device silence or impersonate another,
		// or displace the gateway's own in-process client. Without users
		// anyone may do anything anyway, so only the latter is guarded.
		if old, ok := h.clients(cl.ID); ok && (old.Net.Inline || (!h.open() && string(old.Properties.Username) != name)) {
			return false
		}
	}
	if h.open() {
		return true
	}
	if name == "" && !pk.Connect.PasswordFlag {
		return h.anonymous
	}
	u, ok := h.users[name]
	if !ok {
		return false
	}
	if !h.checkPassword(name, u, pk.Connect.Password) {
		return false
	}
	// mochi publishes last wills without an ACL check, so a will on another
	// device's topic would let this one spoof it.
	if pk.Connect.WillFlag && !allowed(u.publish, pk.Connect.WillTopic) {
		return false
	}
	return true
}

// open reports whether no users are configured: every client, with any
// username or none, may connect and use every topic.
func (h *authHook) open() bool { return len(h.users) == 0 }

func (h *authHook) checkPassword(name string, u *userRule, pw []byte) bool {
	mac := hmac.New(sha256.New, h.macKey)
	mac.Write([]byte(name))
	mac.Write([]byte{0})
	mac.Write(pw)
	sum := mac.Sum(nil)
	h.mu.Lock()
	last := h.verified[name]
	h.mu.Unlock()
	if last != nil && hmac.Equal(last, sum) {
		return true
	}
	h.slots <- struct{}{}
	ok := u.hash.matches(pw)
	<-h.slots
	if ok {
		h.mu.Lock()
		h.verified[name] = sum
		h.mu.Unlock()
	}
	return ok
}

// OnACLCheck allows a user to publish to topics its Publish filters cover,
// and to subscribe to filters (and receive topics) its Subscribe filters
// cover. Anonymous clients, when allowed at all, are not restricted.
func (h *authHook) OnACLCheck(cl *mochi.Client, topic string, write bool) bool {
	if h.open() {
		return true
	}
	name := string(cl.Properties.Username)
	u, ok := h.users[name]
	if !ok {
		return name == "" && h.anonymous
	}
	if write {
		return allowed(u.publish, topic)
	}
	return allowed(u.subscribe, topic)
}

func allowed(rules []string, topic string) bool {
	for _, r := range rules {
		if covers(r, topic) {
			return true
		}
	}
	return false
}

// covers reports whether every topic that filter f matches is also matched
// by rule r; for a topic name f (no wildcards) that is plain MQTT matching.
// A rule starting with a wildcard does not cover topics starting with '$'
// (MQTT 4.7.2).
func covers(r, f string) bool {
	if strings.HasPrefix(f, "$") && (strings.HasPrefix(r, "+") || strings.HasPrefix(r, "#")) {
		return false
	}
	// Walk both level by level without splitting: this runs for every
	// message delivered to a restricted client.
	fdone := false // f ran out of levels before r did
	for {
		rl, rrest, rmore := strings.Cut(r, "/")
		if rl == "#" {
			// "a/#" also matches "a" itself (MQTT 4.7.1.2).
			return true
		}
		if fdone {
			return false
		}
		fl, frest, fmore := strings.Cut(f, "/")
		switch {
		case rl == "+":
			if fl == "#" {
				return false
			}
		case fl == "+" || fl == "#" || fl != rl:
			return false
		}
		switch {
		case !rmore && !fmore:
			return true
		case !rmore:
			return false
		case !fmore:
			r, fdone = rrest, true
		default:
			r, f = rrest, frest
		}
	}
}
