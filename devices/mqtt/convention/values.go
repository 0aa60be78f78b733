package convention

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"

	"gatewayd/devices"
)

// maxDepth bounds how deep nested JSON objects are flattened into keys.
const maxDepth = 4

// parseNumber parses a decimal number, refusing NaN and infinities.
func parseNumber(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// decodeObject decodes a JSON object; it fails for anything else.
func decodeObject(payload []byte) (map[string]any, bool) {
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil || m == nil {
		return nil, false
	}
	return m, true
}

// numReading builds a numeric reading.
func numReading(dev, key string, t time.Time, v float64, unit string) devices.Update {
	return devices.Update{Reading: &devices.Reading{Device: dev, Key: key, Time: t, Value: v, Unit: unit}}
}

// stateReading builds a state reading.
func stateReading(dev, key string, t time.Time, text string) devices.Update {
	return devices.Update{Reading: &devices.Reading{Device: dev, Key: key, Time: t, Text: text, IsState: true}}
}

// maxStateLen bounds state texts; longer strings are not states but blobs.
const maxStateLen = 256

// valueUpdate turns one decoded JSON value into a reading: numbers are
// numeric, strings and booleans are states, null is skipped. ok is false for
// values that cannot be a reading (arrays, objects, overlong strings).
func valueUpdate(dev, key string, t time.Time, v any, unit string) (devices.Update, bool) {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return devices.Update{}, false
		}
		return numReading(dev, key, t, x, unit), true
	case string:
		if len(x) > maxStateLen {
			return devices.Update{}, false
		}
		return stateReading(dev, key, t, x), true
	case bool:
		return stateReading(dev, key, t, strconv.FormatBool(x)), true
	}
	return devices.Update{}, false
}

// flatten walks a decoded JSON value and calls fn for every scalar leaf with
// its dotted key path ("ENERGY.Power"). Arrays are skipped: their elements
// rarely are independent metrics.
func flatten(prefix string, v any, depth int, fn func(key string, v any)) {
	m, ok := v.(map[string]any)
	if !ok {
		if _, isArr := v.([]any); !isArr && prefix != "" {
			fn(prefix, v)
		}
		return
	}
	if depth >= maxDepth {
		return
	}
	for k, x := range m {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		flatten(key, x, depth+1, fn)
	}
}

// parseTime parses a device timestamp: a number of seconds (or milliseconds
// when larger than 1e11) since the epoch, or an RFC 3339 string; a string
// without a zone offset is read in loc.
func parseTime(v any, loc *time.Location) (time.Time, bool) {
	switch x := v.(type) {
	case float64:
		return epoch(x)
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return time.Time{}, false
		}
		return epoch(f)
	case string:
		if f, ok := parseNumber(x); ok {
			return epoch(f)
		}
		if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return t.UTC(), true
		}
		if loc == nil {
			loc = time.UTC
		}
		for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999"} {
			if t, err := time.ParseInLocation(layout, x, loc); err == nil {
				return t.UTC(), true
			}
		}
	}
	return time.Time{}, false
}

func epoch(f float64) (time.Time, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e15 {
		return time.Time{}, false
	}
	if f > 1e11 {
		// Milliseconds: convert as an integer, since dividing first loses
		// the last millisecond to rounding (…698 became …697).
		return time.UnixMilli(int64(math.Round(f))).UTC(), true
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(math.Round(frac*1e6))*1e3).UTC(), true
}

// onlineWord interprets common availability payloads: online/offline,
// Online/Offline, true/false, 1/0, and Zigbee2MQTT's {"state":"online"}.
func onlineWord(payload []byte) (online, ok bool) {
	s := strings.TrimSpace(string(payload))
	if strings.HasPrefix(s, "{") {
		m, isObj := decodeObject(payload)
		if !isObj {
			return false, false
		}
		st, _ := m["state"].(string)
		s = st
	}
	switch strings.ToLower(s) {
	case "online", "true", "1", "connected", "ready":
		return true, true
	case "offline", "false", "0", "disconnected", "lost":
		return false, true
	}
	return false, false
}

// argText renders a command's JSON argument as a plain-text payload: strings
// lose their quotes, null becomes empty, anything else stays JSON.
func argText(args json.RawMessage) string {
	s := strings.TrimSpace(string(args))
	if s == "" || s == "null" {
		return ""
	}
	if s[0] == '"' {
		var str string
		if json.Unmarshal(args, &str) == nil {
			return str
		}
	}
	return s
}

func presence(dev string, online bool, reason string, t time.Time) devices.Update {
	return devices.Update{Presence: &devices.Presence{Device: dev, Online: online, Reason: reason, Time: t}}
}
