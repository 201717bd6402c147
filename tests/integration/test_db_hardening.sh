# The results database against what users do to it: queries that never end or hold several
# statements, another application's SQLite file, a damaged file, read-only media, a file-size limit.
source "$(dirname "$0")/lib.sh"
cd "$TMP"
SPEC="$SPECS/toy_sweep.json"
"$ENGINE" run "$SPEC" --plugin-dir "$GOOD" --db "$TMP/r.db" 2>/dev/null || fail "the toy sweep failed"

# query: one statement only; a recursive CTE without an end is stopped by memory, time or rows.
expect_error "more than one statement" "$ENGINE" query "$TMP/r.db" "SELECT 1; DELETE FROM runs"
[[ $(sql "$TMP/r.db" "SELECT COUNT(*) FROM runs; -- a comment is not a statement") == 15 ]] || fail "a trailing comment was refused"
cte="WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c)"
expect_error "needs more than 256 MiB of memory" timeout 120 "$ENGINE" query "$TMP/r.db" "$cte SELECT x FROM c ORDER BY x DESC"
expect_error "ran for more than 2 s" timeout 120 "$ENGINE" query "$TMP/r.db" "$cte SELECT x FROM c ORDER BY x DESC LIMIT 1" --timeout 2
expect_error "more than 1000 rows; add a LIMIT" timeout 120 "$ENGINE" query "$TMP/r.db" "$cte SELECT x FROM c" --max-rows 1000

# Another application's database gains no tables.
sqlite3 "$TMP/app.db" "CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT); INSERT INTO customers(name) VALUES ('a')"
before=$(sha256sum <"$TMP/app.db")
expect_error "belongs to another application (tables customers" "$ENGINE" run "$SPEC" --plugin-dir "$GOOD" --db "$TMP/app.db"
[[ $(sha256sum <"$TMP/app.db") == "$before" ]] || fail "the other application's database was changed"
[[ ! -e "$TMP/app.artifacts" ]] || fail "artifacts were written beside another application's database"

# A damaged database: run refuses to append; it exited 0 before.
cp "$TMP/r.db" "$TMP/damaged.db"
sqlite3 "$TMP/damaged.db" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
pages=$(( $(stat -c %s "$TMP/damaged.db") / 4096 ))
[[ $pages -ge 6 ]] || fail "the test database is too small to damage ($pages pages)"
dd if=/dev/zero of="$TMP/damaged.db" bs=4096 seek=$((pages / 2)) count=2 conv=notrunc status=none
before=$(sha256sum <"$TMP/damaged.db")
expect_error "is damaged" "$ENGINE" run "$SPEC" --plugin-dir "$GOOD" --db "$TMP/damaged.db"
[[ $(sha256sum <"$TMP/damaged.db") == "$before" ]] || fail "the damaged database was written to"
[[ $(wc -l <"$TMP/err") -eq 1 ]] || { cat "$TMP/err"; fail "a damaged database gave more than one line"; }
# A damaged index page: quick_check lists a hundred problems; run and merge say the first and how
# many more, in one line.
cp "$TMP/r.db" "$TMP/index.db"
sqlite3 "$TMP/index.db" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
root=$(sqlite3 "$TMP/index.db" "SELECT rootpage FROM sqlite_master WHERE name='metrics_by_run'")
dd if=/dev/zero of="$TMP/index.db" bs=1 seek=$(((root - 1) * 4096 + 100)) count=200 conv=notrunc status=none
for cmd in "run $SPEC --plugin-dir $GOOD --db $TMP/index.db" "merge $TMP/m.db $TMP/index.db"; do
  # shellcheck disable=SC2086  # the command's words
  expect_error "is damaged (quick_check: On tree page" "$ENGINE" $cmd
  [[ $(wc -l <"$TMP/err") -eq 1 ]] || { cat "$TMP/err"; fail "$cmd: more than one line"; }
  grep -Eq "; and [0-9]+\+? more problems\); restore it" "$TMP/err" || { cat "$TMP/err"; fail "$cmd: no count of the further problems"; }
done

# A bit changed inside a value (the last bit of a metric's double): the file's structure is sound, so
# quick_check passes, but the row's checksum does not match: report, export, merge and run refuse
# it in one line, and run writes nothing.
cp "$TMP/r.db" "$TMP/flip.db"
sqlite3 "$TMP/flip.db" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
"$PYTHON" - "$TMP/flip.db" <<'PY' || fail "could not flip a bit in a metric"
import sqlite3, struct, sys
path = sys.argv[1]
db = sqlite3.connect(path)
values = [v for (v,) in db.execute("SELECT value FROM metrics WHERE key = 'nrmse'")]
db.close()
data = bytearray(open(path, "rb").read())
for v in values:  # a value whose 8 bytes occur once in the file (SQLite stores REAL big-endian)
    raw = struct.pack(">d", v)
    at = data.find(raw)
    if at >= 0 and data.find(raw, at + 1) < 0:
        data[at + 7] ^= 1
        open(path, "wb").write(data)
        sys.exit(0)
sys.exit(1)
PY
[[ $(sqlite3 "$TMP/flip.db" "PRAGMA quick_check") == ok ]] || fail "quick_check saw the flipped bit (the test needs one it cannot see)"
before=$(sha256sum <"$TMP/flip.db")
for cmd in "report $TMP/flip.db" "export $TMP/flip.db --format json -o $TMP/flip.json" "merge $TMP/fm.db $TMP/flip.db" \
           "run $SPEC --plugin-dir $GOOD --db $TMP/flip.db"; do
  # shellcheck disable=SC2086  # the command's words
  expect_error "holds values changed after they were written: 1 row of metrics does not match its checksum" "$ENGINE" $cmd
  [[ $(wc -l <"$TMP/err") -eq 1 ]] || { cat "$TMP/err"; fail "$cmd: more than one line"; }
done
[[ $(sha256sum <"$TMP/flip.db") == "$before" && ! -e "$TMP/flip.json" && ! -e "$TMP/fm.db" ]] ||
  fail "a database with a changed value was written to, or its results written out"

# A file-size limit: one line naming the write that failed, not a silent SIGXFSZ.
rc=0
(ulimit -f 40; exec "$ENGINE" run "$SPEC" --plugin-dir "$GOOD" --db "$TMP/small.db") >/dev/null 2>"$TMP/err" || rc=$?
[[ $rc -eq 1 ]] || { cat "$TMP/err"; fail "under ulimit -f the engine exited $rc (153 is SIGXFSZ), expected 1"; }
grep -qF "writing to '$TMP/small.db' failed" "$TMP/err" || { cat "$TMP/err"; fail "the error does not name the write"; }
[[ $(wc -l <"$TMP/err") -eq 1 ]] || { cat "$TMP/err"; fail "more than one line"; }

# Read-only media: status, query, export and report open the database read-only (immutable when
# the medium cannot hold SQLite's shared-memory file).
mkdir -p "$TMP/src" "$TMP/ro"
cp "$TMP/r.db" "$TMP/src/"
if mount --bind "$TMP/src" "$TMP/ro" 2>/dev/null && mount -o remount,ro,bind "$TMP/ro" 2>/dev/null; then
  trap 'umount "$TMP/ro" 2>/dev/null || true; rm -rf "$TMP"' EXIT
  ! touch "$TMP/ro/x" 2>/dev/null || fail "the mount is not read-only"
  contains "$("$ENGINE" status "$TMP/ro/r.db")" "toy-sweep"
  [[ $(sql "$TMP/ro/r.db" "SELECT COUNT(*) FROM runs") == 15 ]] || fail "query on read-only media"
  "$ENGINE" export "$TMP/ro/r.db" --format csv >/dev/null || fail "export on read-only media"
  "$ENGINE" report "$TMP/ro/r.db" --format json >/dev/null || fail "report on read-only media"
  umount "$TMP/ro"
elif [[ $EUID -eq 0 ]]; then
  fail "a read-only bind mount failed as root; the read-only media case cannot be tested"
else
  echo "SKIPPED (part): read-only media needs root for a read-only bind mount"
fi
echo "database hardening: ok"
