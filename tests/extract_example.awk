# Prints the fenced code block that follows `<!-- compiled: MARKER -->` in a
# Markdown file; fails when there is none (awk -v marker=NAME -f this file.md).
$0 == "<!-- compiled: " marker " -->" { armed = 1; next }
armed && !inside && /^```/ { inside = 1; next }
inside && /^```/ { found = 1; exit }
inside { print }
END {
  if (!found) {
    print "extract_example.awk: no block after <!-- compiled: " marker " -->" > "/dev/stderr"
    exit 1
  }
}
