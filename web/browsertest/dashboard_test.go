package browsertest_test

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"gatewayd/gateway"
)

const dev = "bench-01"

// TestDashboard follows one person through the dashboard: the fleet, a
// device's live chart, a command, a network outage and the events.
func TestDashboard(t *testing.T) {
	e := newEnv(t, envOptions{alerts: []gateway.AlertRule{
		{Name: "too hot", Device: dev, Metric: "temp", Kind: gateway.AlertAbove, Threshold: 30, Hysteresis: 1},
	}})

	// A device and a neighbour announce themselves before the page opens.
	e.publish("devices/"+dev+"/meta", true, map[string]any{
		"name": "Test bench", "model": "TB-1", "firmware": "1.4.2",
		"units": map[string]string{"temp": "°C"}, "commands": []string{"power"},
	})
	e.publish("devices/greenhouse/status", true, "online")
	// The last hour of both, one reading every two minutes.
	now := time.Now()
	for i := 30; i > 0; i-- {
		ts := now.Add(-time.Duration(i) * 2 * time.Minute).UTC().Format(time.RFC3339Nano)
		e.publish("devices/greenhouse/telemetry", false, map[string]any{
			"temp": 18 + 2*math.Sin(float64(i)/5), "humidity": 55 + 5*math.Cos(float64(i)/7), "ts": ts})
		e.publish("devices/"+dev+"/telemetry", false, map[string]any{"temp": 21 + math.Sin(float64(i)/4), "ts": ts})
	}
	// Data alone counts as a sign of life; the device then goes offline.
	e.publish("devices/"+dev+"/status", true, "offline")

	e.do(chromedp.Navigate(e.proxy.url() + "/"))
	card := fmt.Sprintf(`document.querySelector('.card[data-device=%s]')`, jsString(dev))

	t.Run("card appears and goes online", func(t *testing.T) {
		e := e.with(t)
		e.eventually("connected indicator", `document.querySelector('#conn[data-state=up]')`, 10*time.Second)
		e.eventually("device card, offline", card+`?.querySelector('[data-online=false]')`, 10*time.Second)
		if name := eval[string](e, card+`.querySelector('.name').textContent`); name != "Test bench" {
			t.Errorf("card name %q, want the meta name %q", name, "Test bench")
		}
		e.publish("devices/"+dev+"/status", true, "online")
		// Two seconds old, so that the next subtest's readings are newer.
		e.telemetry(dev, time.Now().Add(-2*time.Second), 21.5)
		e.eventually("device card, online", card+`?.querySelector('[data-online=true]')`, 5*time.Second)
		e.eventually("latest value with unit", card+`?.querySelector('dd[data-key=temp]')?.textContent === '21.50 °C'`, 5*time.Second)
		e.eventually("since-when text", card+`?.querySelector('.since')?.textContent.startsWith('online since')`, 5*time.Second)
		// The neighbour's sparkline holds its back-filled hour.
		e.eventually("sparkline", `document.querySelector('.card[data-device=greenhouse] .spark polyline')`, 5*time.Second)
		// Filtering hides the other card.
		e.do(chromedp.SendKeys(chromedp.CSS(`input[type=search]`), "bench"))
		e.eventually("filter", `document.querySelectorAll('.card').length === 1 && `+card, 3*time.Second)
		e.do(chromedp.Evaluate[chromedp.Void](`(() => { const s = document.querySelector('input[type=search]'); s.value = ''; s.dispatchEvent(new Event('input')); })()`))
		e.eventually("filter cleared", `document.querySelectorAll('.card').length === 2`, 3*time.Second)
		e.do(chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`))
		e.eventually("both sparklines", `document.querySelectorAll('.card .spark polyline').length === 2`, 5*time.Second)
		e.screenshot("fleet.png")
	})

	t.Run("chart gets new points", func(t *testing.T) {
		e := e.with(t)
		e.do(chromedp.Click(chromedp.CSS(`.card[data-device="` + dev + `"]`)))
		e.eventually("temp chart", `document.querySelector('[data-metric=temp]')?.uplot`, 5*time.Second)
		// Times in the past, so later subtests' readings come after them.
		base := time.Now().Truncate(time.Millisecond).Add(-time.Second)
		var sent []time.Time
		for i := range 5 {
			ts := base.Add(time.Duration(i) * 150 * time.Millisecond)
			sent = append(sent, ts)
			e.telemetry(dev, ts, 22+float64(i)/10)
		}
		e.eventually("5 live points in the chart", fmt.Sprintf(
			`(document.querySelector('[data-metric=temp]').uplot.data[0].filter(x => x >= %f).length) === 5`,
			float64(base.UnixMilli())/1000-0.0005), 5*time.Second)
		xs := chartTimes(e, "temp")
		for _, ts := range sent {
			if n := hasTime(xs, ts); n != 1 {
				t.Errorf("reading at %v is in the chart %d times, want once", ts, n)
			}
		}
		// Zoom: the selection a drag makes narrows the chart and the CSV
		// link to that span; Reset zoom restores both.
		csvHref := `[...document.querySelectorAll('a.button')].find(a => a.textContent.includes('CSV')).href`
		before := eval[string](e, csvHref)
		e.do(chromedp.Evaluate[chromedp.Void](`(() => { const u = document.querySelector('[data-metric=temp]').uplot;
			u.setSelect({ left: 100, top: 0, width: 200, height: u.bbox.height / devicePixelRatio }); })()`))
		e.eventually("reset zoom button", `[...document.querySelectorAll('button')].find(b => b.textContent === 'Reset zoom' && !b.hidden)`, 3*time.Second)
		zoomed := eval[string](e, csvHref)
		if zoomed == before {
			t.Errorf("the CSV link did not follow the zoom: %s", zoomed)
		}
		e.do(chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll('button')].find(b => b.textContent === 'Reset zoom').click()`))
		e.eventually("zoom reset", `[...document.querySelectorAll('button')].find(b => b.textContent === 'Reset zoom').hidden`, 3*time.Second)
		if got := eval[string](e, `document.querySelector('h1').textContent`); got != "Test bench" {
			t.Errorf("device heading %q", got)
		}
		href := eval[string](e, `[...document.querySelectorAll('a.button')].find(a => a.textContent.includes('CSV')).href`)
		if !strings.Contains(href, "/api/devices/"+dev+"/export.csv?from=") {
			t.Errorf("CSV link %q", href)
		}
	})

	t.Run("command reaches the device", func(t *testing.T) {
		e := e.with(t)
		got := e.answerCommands(dev, "power")
		e.do(chromedp.Click(chromedp.CSS(`button[data-command=power][data-arg=ON]`)))
		select {
		case arg := <-got:
			if arg != `"ON"` {
				t.Errorf("the device got %s, want \"ON\"", arg)
			}
		case <-time.After(5 * time.Second):
			t.Fatal(errNoCommand)
		}
		e.eventually("command result", `document.querySelector('#cmd-result')?.textContent === 'power ON: done'`, 8*time.Second)
		// The reply is a state reading: it shows in a timeline.
		e.eventually("reply timeline", `document.querySelector('[data-state="reply.power"] .now')?.textContent === 'ON'`, 5*time.Second)
		e.screenshot("device.png")
	})

	t.Run("reconnect continues the chart without a gap", func(t *testing.T) {
		e := e.with(t)
		before := len(chartTimes(e, "temp"))
		e.proxy.cut()
		e.eventually("reconnecting indicator", `document.querySelector('#conn[data-state=retry]')?.textContent.startsWith('reconnecting')`, 10*time.Second)
		// It counts the attempts and the seconds to the next one.
		e.eventually("attempt count", `/^reconnecting \(attempt \d+\)( in \d+ s|…)$/.test(document.querySelector('#conn').textContent)`, 10*time.Second)
		// The gateway keeps ingesting while the dashboard is away.
		base := time.Now().Truncate(time.Millisecond)
		var missed []time.Time
		for i := range 4 {
			ts := base.Add(time.Duration(i) * 100 * time.Millisecond)
			missed = append(missed, ts)
			e.telemetry(dev, ts, 23+float64(i)/10)
		}
		if n := eval[int](e, `document.querySelector('[data-metric=temp]').uplot.data[0].length`); n != before {
			t.Fatalf("the chart changed while disconnected: %d → %d points", before, n)
		}
		time.Sleep(300 * time.Millisecond) // let the store commit before the catch-up query
		e.proxy.resume()
		e.eventually("connected again", `document.querySelector('#conn[data-state=up]')`, 15*time.Second)
		defer func() {
			if t.Failed() {
				t.Logf("before %d, missed %v, chart %v", before, missed, chartTimes(e, "temp"))
			}
		}()
		e.eventually("missed points back-filled", fmt.Sprintf(
			`document.querySelector('[data-metric=temp]').uplot.data[0].length >= %d`, before+len(missed)), 5*time.Second)
		// A reading after the reconnect comes live, after the back-filled ones.
		after := time.Now().Truncate(time.Millisecond).Add(50 * time.Millisecond)
		e.telemetry(dev, after, 24)
		e.eventually("live point after reconnect", fmt.Sprintf(
			`document.querySelector('[data-metric=temp]').uplot.data[0].length === %d`, before+len(missed)+1), 5*time.Second)
		xs := chartTimes(e, "temp")
		for _, ts := range append(missed, after) {
			if n := hasTime(xs, ts); n != 1 {
				t.Errorf("reading at %v is in the chart %d times, want once", ts, n)
			}
		}
		for i := 1; i < len(xs); i++ {
			if xs[i] <= xs[i-1] {
				t.Errorf("chart times not increasing at %d: %v then %v", i, xs[i-1], xs[i])
			}
		}
	})

	t.Run("device view opened by its address", func(t *testing.T) {
		e := e.with(t)
		e.do(chromedp.Navigate(e.proxy.url()+"/#/device/"+dev), chromedp.Reload())
		e.eventually("chart with history", `document.querySelector('[data-metric=temp]')?.uplot?.data[0].length > 0`, 8*time.Second)
		e.eventually("command buttons", `document.querySelector('button[data-command=power]')`, 3*time.Second)

		// 24h is pressed once picked.
		e.do(chromedp.Click(chromedp.CSS(`.seg button:nth-child(2)`)))
		e.eventually("24h pressed", `document.querySelector('.seg button:nth-child(2)')?.getAttribute('aria-pressed') === 'true'`, 5*time.Second)
		// A custom range of the half hour that ended 20 minutes ago shows only
		// the back-filled readings in it.
		e.do(chromedp.Evaluate[chromedp.Void](`(() => {
			const local = (t) => new Date(t - new Date(t).getTimezoneOffset() * 60e3).toISOString().slice(0, 16);
			const [f, t] = document.querySelectorAll('input[type=datetime-local]');
			f.value = local(Date.now() - 50 * 60e3); t.value = local(Date.now() - 20 * 60e3);
			document.querySelector('form.custom').requestSubmit(); })()`))
		e.eventually("custom range", `document.querySelector('form.custom button')?.getAttribute('aria-pressed') === 'true'`, 5*time.Second)
		e.eventually("custom range data", `(() => { const xs = document.querySelector('[data-metric=temp]')?.uplot?.data[0] || [];
			return xs.length > 5 && xs.every(x => x * 1000 >= Date.now() - 52 * 60e3 && x * 1000 <= Date.now() - 19 * 60e3); })()`, 5*time.Second)
		// Back to the live hour.
		e.do(chromedp.Click(chromedp.CSS(`.seg button:nth-child(1)`)))
		e.eventually("1h pressed", `document.querySelector('.seg button:nth-child(1)')?.getAttribute('aria-pressed') === 'true'`, 5*time.Second)
	})

	t.Run("keyboard opens a device", func(t *testing.T) {
		e := e.with(t)
		e.do(chromedp.Navigate(e.proxy.url() + "/#/"))
		e.eventually("cards", card, 5*time.Second)
		// Focused from the page in one step: the overview rebuilds its
		// cards on every fleet_update (keeping the focus), so a node found
		// by one call may be gone by the next.
		e.do(chromedp.Evaluate[chromedp.Void](card+`.focus()`), chromedp.KeyEvent("\r"))
		e.eventually("device view after Enter", `location.hash === '#/device/`+dev+`' && document.querySelector('h1')?.textContent === 'Test bench'`, 5*time.Second)
	})

	t.Run("dark theme follows the system", func(t *testing.T) {
		e := e.with(t)
		light := eval[string](e, `getComputedStyle(document.body).backgroundColor`)
		e.setScheme("dark")
		defer e.setScheme("light")
		e.eventually("dark background", `getComputedStyle(document.body).backgroundColor !== `+jsString(light), 3*time.Second)
		// The chart is redrawn with the dark theme's colours.
		e.eventually("chart redrawn", `document.querySelector('[data-metric=temp]')?.uplot?.series[1].stroke() === getComputedStyle(document.documentElement).getPropertyValue('--accent').trim()`, 3*time.Second)
		lum := eval[float64](e, `(() => { const m = getComputedStyle(document.body).backgroundColor.match(/\d+/g).map(Number);
			return (0.2126*m[0] + 0.7152*m[1] + 0.0722*m[2]) / 255; })()`)
		if lum > 0.2 {
			t.Errorf("dark theme background luminance %.2f", lum)
		}
		e.screenshot("device-dark.png")
	})

	t.Run("events show alerts apart", func(t *testing.T) {
		e := e.with(t)
		e.telemetry(dev, time.Now(), 35) // above the 30 °C rule
		e.do(chromedp.Navigate(e.proxy.url() + "/#/events"))
		e.eventually("alert event", `document.querySelector('#events li.ev.alert[data-kind=alert]')`, 8*time.Second)
		e.eventually("command event", `document.querySelector('#events li[data-kind=command]')`, 3*time.Second)
		e.eventually("online event", `document.querySelector('#events li[data-kind=online]')`, 3*time.Second)
		// An alert row looks different from an ordinary one.
		diff := eval[bool](e, `getComputedStyle(document.querySelector('li.ev.alert')).backgroundColor !==
			getComputedStyle(document.querySelector('li[data-kind=online]')).backgroundColor`)
		if !diff {
			t.Error("alert rows have the same background as other events")
		}
		e.do(chromedp.SetValue(chromedp.CSS(`select[aria-label="Show events"]`), "alert"),
			chromedp.Evaluate[chromedp.Void](`document.querySelector('select[aria-label="Show events"]').dispatchEvent(new Event('change'))`))
		if n := eval[int](e, `[...document.querySelectorAll('#events li[data-kind]')].filter(li => !li.hidden && !li.dataset.kind.startsWith('alert')).length`); n != 0 {
			t.Errorf("alert filter still shows %d other events", n)
		}
		e.do(chromedp.SetValue(chromedp.CSS(`select[aria-label="Show events"]`), "all"),
			chromedp.Evaluate[chromedp.Void](`document.querySelector('select[aria-label="Show events"]').dispatchEvent(new Event('change'))`))
		// The alert is listed as active; acknowledging it records who did.
		ack := `#active-alerts li[data-device="` + dev + `"] button`
		e.eventually("active alert with its Acknowledge button", `document.querySelector('`+ack+`')`, 5*time.Second)
		e.screenshot("events.png")
		e.do(chromedp.Click(chromedp.CSS(ack)))
		e.eventually("acknowledged", `document.querySelector('#active-alerts li[data-device="`+dev+`"] .acked')?.textContent.includes('acknowledged by')`, 5*time.Second)
		e.eventually("the acknowledgement in the history", `[...document.querySelectorAll('#events li')].some(li => li.textContent.includes('acknowledged'))`, 5*time.Second)
	})

	t.Run("fleet on a phone", func(t *testing.T) {
		e := e.with(t)
		e.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
			chromedp.Navigate(e.proxy.url()+"/#/"))
		e.eventually("cards", card, 5*time.Second)
		// Nothing may be wider than the screen.
		if w := eval[int](e, `document.documentElement.scrollWidth`); w > 390 {
			t.Errorf("the page is %d px wide on a 390 px screen", w)
		}
		e.eventually("alert badge", card+`?.querySelector('.badge.alert')`, 5*time.Second)
		e.screenshot("mobile-fleet.png")
		e.do(chromedp.Navigate(e.proxy.url() + "/#/device/" + dev))
		e.eventually("chart on a phone", `document.querySelector('[data-metric=temp]')?.uplot`, 5*time.Second)
		if w := eval[int](e, `document.documentElement.scrollWidth`); w > 390 {
			t.Errorf("the device page is %d px wide on a 390 px screen", w)
		}
		e.screenshot("mobile-device.png")
	})
}

// TestLogin checks the sign-in page: a wrong password is refused, the
// right one opens the fleet, and signing out returns to the page.
func TestLogin(t *testing.T) {
	e := newEnv(t, envOptions{password: "correct horse"})
	e.publish("devices/"+dev+"/status", true, "online")

	e.do(chromedp.Navigate(e.proxy.url() + "/"))
	e.eventually("login page", `!document.querySelector('#login-page').hidden && document.querySelector('#app').hidden`, 10*time.Second)
	e.eventually("password focused", `document.activeElement?.id === 'password'`, 3*time.Second)
	e.screenshot("login.png")

	e.do(chromedp.SendKeys(chromedp.ID("password"), "wrong"),
		chromedp.Click(chromedp.CSS(`#login-form button[type=submit]`)))
	e.eventually("wrong password message", `document.querySelector('#login-error').textContent === 'Wrong password.'`, 5*time.Second)
	if hidden := eval[bool](e, `document.querySelector('#app').hidden`); !hidden {
		t.Fatal("the dashboard opened after a wrong password")
	}

	e.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#password').value = ''`),
		chromedp.SendKeys(chromedp.ID("password"), "correct horse"),
		chromedp.Click(chromedp.CSS(`#login-form button[type=submit]`)))
	e.eventually("dashboard after login", `document.querySelector('#login-page').hidden && !document.querySelector('#app').hidden`, 10*time.Second)
	e.eventually("connected", `document.querySelector('#conn[data-state=up]')`, 5*time.Second)
	e.eventually("device card", `document.querySelector('.card[data-device=`+jsString(dev)+`]')`, 5*time.Second)

	e.do(chromedp.Click(chromedp.ID("logout")))
	e.eventually("login page after sign-out", `!document.querySelector('#login-page').hidden`, 5*time.Second)
	// The session cookie is gone: a reload lands on the login page again.
	e.do(chromedp.Reload())
	e.eventually("login page after reload", `!document.querySelector('#login-page').hidden`, 10*time.Second)
}
