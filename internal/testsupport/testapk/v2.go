package testapk

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path"
	"sort"
	"strings"
)

// tarStream is a tar of files (withDirs: a data tar, each file's
// directories first, for apk 2 wants their dirents, and its checksum), without the end-of-archive blocks when cut:
// apk 2 reads a package or a signed index as concatenated gzip streams of
// one tar, so only the last may end it (abuild-tar --cut).
func tarStream(files map[string]string, withDirs, cut bool) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	dirs := map[string]bool{}
	for _, n := range names {
		if withDirs {
			var parents []string
			for d := path.Dir(n); d != "." && !dirs[d]; d = path.Dir(d) {
				dirs[d] = true
				parents = append([]string{d}, parents...)
			}
			for _, d := range parents {
				if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, Format: tar.FormatUSTAR}); err != nil {
					return nil, err
				}
			}
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: n, Mode: 0o644, Size: int64(len(files[n])), Format: tar.FormatUSTAR}
		if withDirs {
			// A data file's checksum, as abuild-tar --hash writes it: without
			// it apk 2 marks the package broken ("1 error", exit 1).
			sum := sha1.Sum([]byte(files[n]))
			hdr.Format, hdr.PAXRecords = tar.FormatPAX, map[string]string{"APK-TOOLS.checksum.SHA1": hex.EncodeToString(sum[:])}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write([]byte(files[n])); err != nil {
			return nil, err
		}
	}
	if cut {
		if err := tw.Flush(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func gz(data []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(data) // a bytes.Buffer does not fail
	zw.Close()
	return buf.Bytes()
}

// buildV2 writes p as an apk 2 (v2) package: the gzip stream of a cut tar
// holding .PKGINFO (whose datahash is the data stream's sha256), then the
// gzip stream of the data tar.
func buildV2(file string, p Package) error {
	data, err := tarStream(p.Files, true, false)
	if err != nil {
		return err
	}
	dataGz := gz(data)
	size := 0
	for _, c := range p.Files {
		size += len(c)
	}
	sum := sha256.Sum256(dataGz)
	var info strings.Builder
	fmt.Fprintf(&info, "pkgname = %s\npkgver = %s\narch = x86_64\npkgdesc = %s for tests\nsize = %d\n", p.Name, p.Version, p.Name, size)
	if p.Origin != "" {
		fmt.Fprintf(&info, "origin = %s\n", p.Origin)
	}
	for _, pr := range p.Provides {
		fmt.Fprintf(&info, "provides = %s\n", pr)
	}
	for _, d := range p.Depends {
		fmt.Fprintf(&info, "depend = %s\n", d)
	}
	fmt.Fprintf(&info, "datahash = %s\n", hex.EncodeToString(sum[:]))
	ctl, err := tarStream(map[string]string{".PKGINFO": info.String()}, false, true)
	if err != nil {
		return err
	}
	return os.WriteFile(file, append(gz(ctl), dataGz...), 0o644)
}

// signV2 signs an apk 2 index as abuild-sign does: a first gzip stream of a
// cut tar with .SIGN.RSA.<key name>.pub, the RSA-SHA1 signature of the
// index's gzip stream, before that stream.
func signV2(ctx context.Context, k Key, unsigned, signed string) error {
	idx, err := os.ReadFile(unsigned)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "openssl", "dgst", "-sha1", "-sign", k.Private)
	cmd.Stdin = bytes.NewReader(idx)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	sig, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("openssl dgst -sha1 -sign %s: %w: %s", k.Private, err, stderr.String())
	}
	head, err := tarStream(map[string]string{".SIGN.RSA." + k.Name + ".pub": string(sig)}, false, true)
	if err != nil {
		return err
	}
	if err := os.WriteFile(signed, append(gz(head), idx...), 0o644); err != nil {
		return err
	}
	return os.Remove(unsigned)
}
