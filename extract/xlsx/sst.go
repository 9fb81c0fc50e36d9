package xlsx

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"strings"
)

// sharedStrings is the workbook's shared-string table. Small tables live in
// memory; past a threshold the strings go to a temporary file (unlinked at
// once, so it disappears however the process ends) and only their offsets
// stay in memory: 8 bytes a string, however long the strings.
type sharedStrings struct {
	mem  []string
	file *os.File
	offs []int64 // offs[i]..offs[i+1] is string i in file
}

// memStrings bounds the bytes of strings kept in memory.
const memStrings = 16 << 20

func readSharedStrings(r io.Reader, tmpDir string) (*sharedStrings, error) {
	sst := &sharedStrings{}
	dec := xml.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	var w *bufio.Writer
	var off int64
	var inMem int
	add := func(s string) error {
		if w == nil && inMem+len(s) <= memStrings {
			sst.mem = append(sst.mem, s)
			inMem += len(s) + 16 // and its string header
			return nil
		}
		if w == nil {
			f, err := os.CreateTemp(tmpDir, "msgmigrate-sst-*")
			if err != nil {
				return err
			}
			os.Remove(f.Name())
			sst.file, w = f, bufio.NewWriterSize(f, 256<<10)
			sst.offs = append(sst.offs, 0)
		}
		if _, err := w.WriteString(s); err != nil {
			return err
		}
		off += int64(len(s))
		sst.offs = append(sst.offs, off)
		return nil
	}
	var sb strings.Builder
	depth := 0 // inside <si>
	inT := false
	skip := 0 // inside <rPh> phonetic runs, which are not part of the text
	for {
		tok, err := dec.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			sst.close()
			return nil, fmt.Errorf("shared strings: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "si":
				depth++
				sb.Reset()
			case "rPh":
				skip++
			case "t":
				inT = depth > 0 && skip == 0
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "si":
				depth--
				if err := add(unescapeOOXML(sb.String())); err != nil {
					sst.close()
					return nil, fmt.Errorf("shared strings: %w", err)
				}
			case "rPh":
				skip--
			case "t":
				inT = false
			}
		case xml.CharData:
			if inT {
				sb.Write(t)
			}
		}
	}
	if w != nil {
		if err := w.Flush(); err != nil {
			sst.close()
			return nil, fmt.Errorf("shared strings: %w", err)
		}
	}
	return sst, nil
}

func (s *sharedStrings) len() int {
	n := len(s.mem)
	if len(s.offs) > 0 {
		n += len(s.offs) - 1
	}
	return n
}

func (s *sharedStrings) get(i int) (string, error) {
	if i < 0 || i >= s.len() {
		return "", fmt.Errorf("shared string %d does not exist (the table has %d)", i, s.len())
	}
	if i < len(s.mem) {
		return s.mem[i], nil
	}
	i -= len(s.mem)
	b := make([]byte, s.offs[i+1]-s.offs[i])
	if _, err := s.file.ReadAt(b, s.offs[i]); err != nil {
		return "", fmt.Errorf("shared string %d: %w", i, err)
	}
	return string(b), nil
}

func (s *sharedStrings) close() {
	if s != nil && s.file != nil {
		s.file.Close()
		s.file = nil
	}
}

// unescapeOOXML decodes the _xHHHH_ escapes OOXML uses for characters XML
// cannot carry (a carriage return is written _x000D_); _x005F_ escapes the
// underscore of a literal "_xHHHH_".
func unescapeOOXML(s string) string {
	if !strings.Contains(s, "_x") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if i+7 <= len(s) && s[i] == '_' && s[i+1] == 'x' && s[i+6] == '_' && isHex(s[i+2:i+6]) {
			var r rune
			fmt.Sscanf(s[i+2:i+6], "%04x", &r)
			b.WriteRune(r)
			i += 7
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if !(s[i] >= '0' && s[i] <= '9') && !(c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
