package gpio

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/host/v3"
)

// PermissionError reports GPIO devices or lines the process may not open,
// with the fix in its message. It matches ErrPermission and fs.ErrPermission
// under errors.Is.
type PermissionError struct {
	// Path is the device file or line name that failed.
	Path string
	Err  error
}

// Error names the path and how to get access.
func (e *PermissionError) Error() string {
	return fmt.Sprintf("gpio: permission denied on %s: add the user running gatewayd to the \"gpio\" group "+
		"(usermod -aG gpio <user>, or SupplementaryGroups=gpio in the systemd unit) and make sure /dev/gpiochip* "+
		"belongs to group gpio with mode 0660: %v", e.Path, e.Err)
}

// Unwrap returns the underlying error.
func (e *PermissionError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrPermission) true.
func (e *PermissionError) Is(target error) bool { return target == ErrPermission }

// HostOptions configures Host. A nil *HostOptions means defaults.
type HostOptions struct {
	// Glob lists the GPIO character devices. Nil means filepath.Glob on
	// "/dev/gpiochip*".
	Glob func(pattern string) ([]string, error)
	// OpenDevice opens a device read-write to check access before periph
	// tries (periph only logs such failures as a failed driver). Nil means
	// os.OpenFile with O_RDWR.
	OpenDevice func(path string) (io.Closer, error)
	// Logger receives the drivers periph skipped or failed to load. Nil
	// means slog.Default().
	Logger *slog.Logger
}

var (
	hostOnce sync.Once
	hostErr  error
)

// Host checks access to the GPIO character devices, initialises periph's
// host drivers once per process (logging the drivers that failed) and
// returns an Opener that looks pins up by line name. Missing rights give a
// *PermissionError naming the group to join.
func Host(opts *HostOptions) (Opener, error) {
	var o HostOptions
	if opts != nil {
		o = *opts
	}
	if o.Glob == nil {
		o.Glob = filepath.Glob
	}
	if o.OpenDevice == nil {
		o.OpenDevice = func(p string) (io.Closer, error) { return os.OpenFile(p, os.O_RDWR, 0) }
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	chips, err := o.Glob("/dev/gpiochip*")
	if err != nil {
		return nil, fmt.Errorf("gpio: listing GPIO devices: %w", err)
	}
	if len(chips) == 0 {
		// Without character devices periph may still find sysfs GPIO on an
		// old kernel; say why pins may be missing.
		o.Logger.Warn("gpio: no /dev/gpiochip* devices; GPIO needs a Linux kernel with the GPIO character device (5.10 or later)")
	}
	for _, c := range chips {
		f, err := o.OpenDevice(c)
		if err != nil {
			if errors.Is(err, fs.ErrPermission) {
				return nil, &PermissionError{Path: c, Err: err}
			}
			return nil, fmt.Errorf("gpio: opening %s: %w", c, err)
		}
		_ = f.Close()
	}
	hostOnce.Do(func() {
		state, err := host.Init()
		if err != nil {
			hostErr = fmt.Errorf("gpio: initialising periph: %w", err)
			return
		}
		for _, f := range state.Failed {
			o.Logger.Warn("gpio: periph driver failed", "driver", f.D.String(), "err", f.Err)
		}
		for _, f := range state.Skipped {
			o.Logger.Debug("gpio: periph driver skipped", "driver", f.D.String(), "err", f.Err)
		}
	})
	if hostErr != nil {
		return nil, hostErr
	}
	return func(name string) (gpio.PinIO, error) {
		p := gpioreg.ByName(name)
		if p == nil {
			return nil, fmt.Errorf("%w: %q (is the GPIO driver loaded?)", ErrNoPin, name)
		}
		return p, nil
	}, nil
}
