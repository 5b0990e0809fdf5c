package vfs

import (
	"fmt"
	"strconv"
	"strings"
)

// autoMessage is gitstore's generated message: "+ path", "~ path" (with
// " (executable)" or " (link)" for those types) or "- path" for a single
// change; "Batch: +A ~U -D" or "Batch <op>: …" for more (zero counts
// left out); "No changes" for none.
func autoMessage(r *ChangeReport, op string) string {
	switch r.Total() {
	case 0:
		return "No changes"
	case 1:
		switch {
		case len(r.Add) == 1:
			return "+ " + r.Add[0].Path + r.Add[0].Type.suffix()
		case len(r.Update) == 1:
			return "~ " + r.Update[0].Path + r.Update[0].Type.suffix()
		default:
			return "- " + r.Delete[0].Path
		}
	}
	var parts []string
	for _, c := range []struct {
		sign string
		n    int
	}{{"+", len(r.Add)}, {"~", len(r.Update)}, {"-", len(r.Delete)}} {
		if c.n > 0 {
			parts = append(parts, c.sign+strconv.Itoa(c.n))
		}
	}
	head := "Batch"
	if op != "" {
		head += " " + op
	}
	return head + ": " + strings.Join(parts, " ")
}

// formatMessage builds a commit message. "" generates one; a message
// without "{" is used as is; otherwise it is a template with {default},
// {add_count}, {update_count}, {delete_count}, {total_count} and {op},
// "{{" and "}}" standing for braces (Python's str.format, which gitstore
// uses, without format specs). An unknown placeholder is an error wrapping
// ErrInvalid.
func formatMessage(message string, r *ChangeReport, op string) (string, error) {
	if message == "" {
		return autoMessage(r, op), nil
	}
	if !strings.Contains(message, "{") {
		return message, nil
	}
	values := map[string]string{
		"default":      autoMessage(r, op),
		"add_count":    strconv.Itoa(len(r.addList())),
		"update_count": strconv.Itoa(len(r.updateList())),
		"delete_count": strconv.Itoa(len(r.deleteList())),
		"total_count":  strconv.Itoa(r.Total()),
		"op":           op,
	}
	var b strings.Builder
	for i := 0; i < len(message); i++ {
		c := message[i]
		switch {
		case c == '{' && i+1 < len(message) && message[i+1] == '{':
			b.WriteByte('{')
			i++
		case c == '}' && i+1 < len(message) && message[i+1] == '}':
			b.WriteByte('}')
			i++
		case c == '{':
			end := strings.IndexByte(message[i:], '}')
			if end < 0 {
				return "", errorf(ErrInvalid, "Single '{' encountered in message template %q", message)
			}
			name := message[i+1 : i+end]
			v, ok := values[name]
			if !ok {
				return "", errorf(ErrInvalid, "unknown placeholder %s in message template (known: {default}, {add_count}, {update_count}, {delete_count}, {total_count}, {op})", fmt.Sprintf("{%s}", name))
			}
			b.WriteString(v)
			i += end
		case c == '}':
			return "", errorf(ErrInvalid, "Single '}' encountered in message template %q", message)
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

func (c *ChangeReport) addList() []FileEntry {
	if c == nil {
		return nil
	}
	return c.Add
}

func (c *ChangeReport) updateList() []FileEntry {
	if c == nil {
		return nil
	}
	return c.Update
}

func (c *ChangeReport) deleteList() []FileEntry {
	if c == nil {
		return nil
	}
	return c.Delete
}
