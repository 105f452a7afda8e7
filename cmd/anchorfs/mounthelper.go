package main

import (
	"fmt"
	"path/filepath"
	"strings"
)

// mountHelperName is the name mount(8) runs for `mount -t fuse.anchorfs`
// (and for fstab lines of that type): a link to this binary.
const mountHelperName = "mount.fuse.anchorfs"

// mountHelperArgs turns mount(8)'s call of a helper, `HOME MOUNTPOINT [-o
// OPTIONS] [-n] [-s] [-f] [-v]`, into the command line of `anchorfs mount
// --background`: the options the kernel's mount table knows go to their
// flags, those only mount(8) uses are dropped.
func mountHelperArgs(args []string) ([]string, error) {
	var pos, opts []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-o" && i+1 < len(args):
			opts = append(opts, strings.Split(args[i+1], ",")...)
			i++
		case strings.HasPrefix(a, "-o"):
			opts = append(opts, strings.Split(a[2:], ",")...)
		case a == "-n", a == "-s", a == "-f", a == "-v":
		case strings.HasPrefix(a, "-"):
			return nil, fmt.Errorf("%s: unknown argument %s", mountHelperName, a)
		default:
			pos = append(pos, a)
		}
	}
	if len(pos) != 2 {
		return nil, fmt.Errorf("%s HOME MOUNTPOINT [-o OPTIONS]: %d arguments given", mountHelperName, len(pos))
	}
	home, err := filepath.Abs(pos[0])
	if err != nil {
		return nil, err
	}
	out := []string{"--home", home, "mount", pos[1], "--background"}
	for _, o := range opts {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "":
		case "allow_other":
			out = append(out, "--allow-other")
		case "noatime":
			out = append(out, "--noatime")
		case "ro":
			out = append(out, "--read-only")
		case "nonempty":
			out = append(out, "--allow-non-empty")
		case "passphrase_file":
			out = append([]string{"--passphrase-file", v}, out...)
		case "log_level":
			out = append(out, "--log-level", v)
		case "bwlimit": // a plain limit: an option cannot hold a timetable's commas
			out = append([]string{"--bwlimit", v}, out...)
		case "rw", "defaults", "auto", "noauto", "nofail", "_netdev", "user", "users", "nouser", "dev", "nodev",
			"suid", "nosuid", "exec", "noexec", "relatime", "atime", "x-systemd.automount":
			// mount(8)'s own, or what FUSE mounts have anyway
		default:
			if strings.HasPrefix(k, "x-") || strings.HasPrefix(k, "comment") {
				continue
			}
			return nil, fmt.Errorf("%s: unknown option %q (anchorfs takes allow_other, noatime, ro, nonempty, passphrase_file=FILE, log_level=LEVEL, bwlimit=LIMIT)", mountHelperName, o)
		}
	}
	return out, nil
}
