package gpio

// ParseSwitch exposes the command argument parser to the fuzz test.
var ParseSwitch = parseSwitch
