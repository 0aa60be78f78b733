package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gatewayd/devices"
	"gatewayd/store"
)

// apiError is the error object of docs/protocol.md: a stable code for
// programs and a message for people.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func errBadRequest(format string, args ...any) *apiError {
	return &apiError{Code: "bad_request", Message: fmt.Sprintf(format, args...)}
}

func errUnknownDevice(id string) *apiError {
	return &apiError{Code: "unknown_device", Message: fmt.Sprintf("no device %q", id)}
}

var errForbidden = &apiError{Code: "forbidden", Message: "your role may not do this"}

// asAPIError maps any error to the protocol's error object.
func asAPIError(err error) *apiError {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, ErrCommandTimeout), errors.Is(err, context.DeadlineExceeded):
		return &apiError{Code: "timeout", Message: err.Error()}
	case errors.Is(err, devices.ErrUnknownCommand):
		return &apiError{Code: "unknown_command", Message: err.Error()}
	case errors.Is(err, devices.ErrUnknownDevice), errors.Is(err, ErrNoCommander):
		return &apiError{Code: "unknown_device", Message: err.Error()}
	case errors.Is(err, store.ErrInvalid):
		return &apiError{Code: "bad_request", Message: err.Error()}
	}
	return &apiError{Code: "unavailable", Message: err.Error()}
}

// historyReq is the `history` request.
type historyReq struct {
	Device  string   `json:"device"`
	Metrics []string `json:"metrics"`
	From    int64    `json:"from"`
	To      int64    `json:"to"`
	Points  int      `json:"points"`
}

// series is one metric of a `history` result: numeric series fill T, Avg,
// Min and Max; state series fill T and S.
type series struct {
	T []int64 `json:"t"`
	// A numeric series has empty, not missing, arrays when it has no points.
	Avg []float64 `json:"avg,omitzero"`
	Min []float64 `json:"min,omitzero"`
	Max []float64 `json:"max,omitzero"`
	S   []string  `json:"s,omitzero"`
}

type historyRes struct {
	Device string             `json:"device"`
	Series map[string]*series `json:"series"`
}

// maxHistoryPoints bounds one series of a history answer; more would only
// cost memory in the browser.
const maxHistoryPoints = 100_000

func (g *Gateway) history(ctx context.Context, req historyReq) (*historyRes, error) {
	d, ok := g.lookup(req.Device)
	if !ok {
		return nil, errUnknownDevice(req.Device)
	}
	if req.To == 0 {
		req.To = g.now().UnixMilli()
	}
	if req.From == 0 {
		req.From = req.To - time.Hour.Milliseconds()
	}
	if req.From >= req.To {
		return nil, errBadRequest("from must be before to")
	}
	if req.Points <= 0 {
		req.Points = 500
	}
	req.Points = min(req.Points, maxHistoryPoints)
	metrics := req.Metrics
	if len(metrics) == 0 {
		for k := range d.Latest {
			metrics = append(metrics, k)
		}
	}
	from, to := time.UnixMilli(req.From), time.UnixMilli(req.To)
	res := &historyRes{Device: req.Device, Series: map[string]*series{}}
	for _, k := range metrics {
		s := &series{T: []int64{}}
		if v, ok := d.Latest[k]; ok && v.state {
			samples, err := g.store.Range(ctx, req.Device, k, from, to)
			if err != nil {
				return nil, err
			}
			if len(samples) > req.Points {
				samples = samples[len(samples)-req.Points:]
			}
			s.S = make([]string, 0, len(samples))
			for _, smp := range samples {
				s.T = append(s.T, smp.Time.UnixMilli())
				s.S = append(s.S, smp.Text)
			}
		} else {
			bs, err := g.store.Downsample(ctx, req.Device, k, from, to, req.Points)
			if err != nil {
				return nil, err
			}
			s.Avg, s.Min, s.Max = make([]float64, 0, len(bs)), make([]float64, 0, len(bs)), make([]float64, 0, len(bs))
			for _, b := range bs {
				s.T = append(s.T, b.Start.UnixMilli())
				s.Avg = append(s.Avg, b.Avg)
				s.Min = append(s.Min, b.Min)
				s.Max = append(s.Max, b.Max)
			}
		}
		res.Series[k] = s
	}
	return res, nil
}

// eventsReq is the `events` request.
type eventsReq struct {
	From   int64  `json:"from"`
	To     int64  `json:"to"`
	Device string `json:"device"`
	Limit  int    `json:"limit"`
}

func (g *Gateway) events(ctx context.Context, req eventsReq) ([]eventMsg, error) {
	if req.To == 0 {
		req.To = g.now().UnixMilli() + 1
	}
	if req.From == 0 {
		req.From = req.To - 7*24*time.Hour.Milliseconds()
	}
	if req.Limit <= 0 || req.Limit > 1000 {
		req.Limit = 200
	}
	evs, err := g.store.Events(ctx, time.UnixMilli(req.From), time.UnixMilli(req.To),
		store.EventFilter{Device: req.Device, Limit: req.Limit})
	if err != nil {
		return nil, err
	}
	out := make([]eventMsg, 0, len(evs))
	for _, e := range evs {
		out = append(out, eventMsg{T: e.Time.UnixMilli(), Device: e.Device, Kind: e.Kind, Text: e.Message})
	}
	// The protocol lists events newest first.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}
