// Package version holds the service's name and version, printed by `server --version` and
// reported by /healthz. It imports nothing: a leaf every other package may use.
package version

// Name is the service's name, as it appears in logs and in the version line.
const Name = "inventory"

// Version is the release this binary was built from.
const Version = "1.4.2"

// String is the version line: name and version.
func String() string {
	return Name + " " + Version
}

// UserAgent is what the service sends as its User-Agent on outgoing requests.
func UserAgent() string {
	return Name + "/" + Version
}
