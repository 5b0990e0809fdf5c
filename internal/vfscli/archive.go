package vfscli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/strata-storage/strata/vfs"
)

const (
	formatZip = "zip"
	formatTar = "tar"
)

// archiveFormat detects zip or tar from a file name, case-insensitively.
func archiveFormat(name string) (string, bool) {
	n := strings.ToLower(name)
	if strings.HasSuffix(n, ".zip") {
		return formatZip, true
	}
	for _, ext := range []string{".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz"} {
		if strings.HasSuffix(n, ext) {
			return formatTar, true
		}
	}
	return "", false
}

// tarCompression is the compression a tar file name asks for.
func tarCompression(name string) string {
	n := strings.ToLower(name)
	switch {
	case strings.HasSuffix(n, ".tar.gz"), strings.HasSuffix(n, ".tgz"):
		return "gz"
	case strings.HasSuffix(n, ".tar.bz2"), strings.HasSuffix(n, ".tbz2"):
		return "bz2"
	case strings.HasSuffix(n, ".tar.xz"), strings.HasSuffix(n, ".txz"):
		return "xz"
	}
	return ""
}

// addArchiveFormatFlag adds --format to archive and unarchive; zip, tar
// and their inverses (fixed) have their format in their name.
func addArchiveFormatFlag(cmd *cobra.Command, fixed string, v *string) {
	if fixed == "" {
		cmd.Flags().StringVar(v, "format", "", "archive format: zip or tar (default: from the file name)")
	}
}

// pickArchiveFormat is the command's own format (fixed), else --format
// (flag), else the one name's extension says; stdin and stdout ('-') have
// no name, so noName is the error then.
func pickArchiveFormat(name, fixed, flag, noName string) (string, error) {
	if flag != "" && flag != formatZip && flag != formatTar {
		return "", usagef("Invalid value for '--format': '%s' is not one of 'zip', 'tar'.", flag)
	}
	switch {
	case fixed != "":
		return fixed, nil
	case flag != "":
		return flag, nil
	case name == "-":
		return "", failf("%s", noName)
	}
	format, ok := archiveFormat(name)
	if !ok {
		return "", failf("Cannot detect archive format from extension: %s\nUse --format zip or --format tar", name)
	}
	return format, nil
}

// exportFlags are the options of archive, zip and tar.
type exportFlags struct {
	branch string
	snap   snapshotOpts
	format string
}

func (a *app) exportCommand(use, short, fixed string) *cobra.Command {
	var f exportFlags
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  exactArgs(1),
		RunE:  func(_ *cobra.Command, args []string) error { return a.export(args[0], fixed, &f) },
	}
	addBranchFlag(cmd, &f.branch)
	addSnapshotFlags(cmd, &f.snap)
	addArchiveFormatFlag(cmd, fixed, &f.format)
	return cmd
}

func (a *app) archiveCommand() *cobra.Command {
	cmd := a.exportCommand("archive FILENAME", "Write a snapshot's files to a zip or tar archive ('-' = stdout)", "")
	cmd.Long = "Write every file of a snapshot to FILENAME: .zip, or .tar, .tar.gz/.tgz,\n" +
		".tar.xz/.txz. '-' writes to stdout and needs --format (tar on stdout is\n" +
		"never compressed)."
	return cmd
}

func (a *app) zipCommand() *cobra.Command {
	return a.exportCommand("zip FILENAME", "Write a snapshot's files to a zip archive", formatZip)
}

func (a *app) tarCommand() *cobra.Command {
	return a.exportCommand("tar FILENAME", "Write a snapshot's files to a tar archive (compressed by the name's extension)", formatTar)
}

func (a *app) export(name, fixed string, f *exportFlags) error {
	format, err := pickArchiveFormat(name, fixed, f.format, "Use --format with stdout (-)")
	if err != nil {
		return err
	}
	s, err := a.openRead()
	if err != nil {
		return err
	}
	snap, err := a.snapshot(s, refPath{Repo: true}, f.branch, &f.snap)
	if err != nil {
		return err
	}
	write := func(w io.Writer) (int, error) {
		if format == formatZip {
			return snap.ExportZip(w)
		}
		compression := ""
		if name != "-" {
			compression = tarCompression(name)
		}
		return snap.ExportTar(w, compression)
	}
	var n int
	if name == "-" {
		n, err = write(a.stdout)
	} else {
		n, err = writeArchiveFile(name, write)
	}
	if err != nil {
		return failf("%s", err)
	}
	a.status("Wrote %d file(s) to %s", n, name)
	return nil
}

// writeArchiveFile writes an archive to name; a failed one is removed
// rather than left half written.
func writeArchiveFile(name string, write func(io.Writer) (int, error)) (int, error) {
	out, err := os.Create(name)
	if err != nil {
		return 0, err
	}
	n, err := write(out)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
	}
	return n, err
}

// importFlags are the options of unarchive, unzip and untar.
type importFlags struct {
	branch string
	commit commitOpts
	format string
}

func (a *app) importCommand(use, short, fixed string, args cobra.PositionalArgs) *cobra.Command {
	var f importFlags
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  args,
		RunE: func(_ *cobra.Command, args []string) error {
			name := "-"
			if len(args) > 0 {
				name = args[0]
			}
			return a.importArchive(name, fixed, &f)
		},
	}
	addBranchFlag(cmd, &f.branch)
	addMessageFlag(cmd, &f.commit)
	addNoCreateFlag(cmd, &f.commit)
	addTagFlags(cmd, &f.commit)
	addArchiveFormatFlag(cmd, fixed, &f.format)
	return cmd
}

func (a *app) unarchiveCommand() *cobra.Command {
	cmd := a.importCommand("unarchive [FILENAME]", "Add an archive's files to a branch as one commit", "", maxArgs(1))
	cmd.Long = "Add every file of a zip or tar archive to a branch in one commit; existing\n" +
		"files are overwritten, nothing is deleted. Without FILENAME, or with '-',\n" +
		"the archive is read from stdin and --format is required."
	return cmd
}

func (a *app) unzipCommand() *cobra.Command {
	return a.importCommand("unzip FILENAME", "Add a zip archive's files to a branch as one commit", formatZip, exactArgs(1))
}

func (a *app) untarCommand() *cobra.Command {
	return a.importCommand("untar [FILENAME]", "Add a tar archive's files (any compression) to a branch as one commit; '-' or none = stdin", formatTar, maxArgs(1))
}

func (a *app) importArchive(name, fixed string, f *importFlags) error {
	stdin := name == "-"
	if stdin && fixed == formatZip {
		// unzip takes files only, as gitstore's did.
		return failf("File not found: -")
	}
	format, err := pickArchiveFormat(name, fixed, f.format, "Use --format when reading from stdin")
	if err != nil {
		return err
	}
	if !stdin {
		if fi, err := os.Stat(name); err != nil || fi.IsDir() {
			return failf("File not found: %s", name)
		}
	}
	s, err := a.openWrite(f.branch, f.commit.noCreate)
	if err != nil {
		return err
	}
	snap, err := destBranch(s, refPath{Repo: true}, f.branch, &f.commit)
	if err != nil {
		return err
	}
	opt := vfs.ImportOptions{Message: f.commit.message}
	var out *vfs.FS
	var stats vfs.ImportStats
	switch {
	case format == formatZip:
		out, stats, err = a.importZip(snap, name, opt)
	case stdin:
		out, stats, err = snap.ImportTar(a.stdin, opt)
	default:
		var in *os.File
		if in, err = os.Open(name); err == nil {
			out, stats, err = snap.ImportTar(in, opt)
			in.Close()
		}
	}
	for _, w := range stats.Warnings {
		fmt.Fprintf(a.stderr, "Warning: %s\n", w)
	}
	if err != nil {
		if format == formatZip && strings.HasPrefix(err.Error(), "Not a valid zip file") {
			return failf("Not a valid zip file: %s", name)
		}
		return copyErr(err)
	}
	if err := a.applyTag(s, out, &f.commit); err != nil {
		return err
	}
	skipped := ""
	if stats.SkippedLinks > 0 {
		skipped = fmt.Sprintf(" (%d hard link(s) skipped)", stats.SkippedLinks)
	}
	a.status("Imported %d file(s) from %s%s", stats.Files, name, skipped)
	return nil
}

// importZip imports a zip file, or a zip on stdin: zip's directory is at
// its end, so stdin is spooled to a temporary file first, never memory.
func (a *app) importZip(snap *vfs.FS, name string, opt vfs.ImportOptions) (*vfs.FS, vfs.ImportStats, error) {
	var in *os.File
	var err error
	if name == "-" {
		if in, err = os.CreateTemp("", "strata-unzip-*"); err != nil {
			return nil, vfs.ImportStats{}, err
		}
		defer os.Remove(in.Name())
		if _, err = io.Copy(in, a.stdin); err != nil {
			in.Close()
			return nil, vfs.ImportStats{}, err
		}
	} else if in, err = os.Open(name); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			err = failf("File not found: %s", name)
		}
		return nil, vfs.ImportStats{}, err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return nil, vfs.ImportStats{}, err
	}
	return snap.ImportZip(in, fi.Size(), opt)
}
