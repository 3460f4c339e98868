/* gtkit._scan: optional compiled readers of object-detection manifest lines and of box CSVs.
 *
 * scan(block, pos, attribute) reads the lines of `block` from byte `pos` for as long as each is
 * an object-detection line of the usual shape, and stops at the first line that is not (or at
 * the end). The usual shape, keys in any order, each exactly once:
 *
 *   {"source-ref": STR,
 *    ATTR: {"annotations": [{"class_id": N, "left": N, "top": N, "width": N, "height": N}, ...],
 *           "image_size": [{"width": N, "height": N, "depth": N}]},        (depth optional)
 *    "ATTR-metadata": {"objects": [{"confidence": N}, ...],  (one per annotation)
 *                      "class-map": {STR: STR, ...}, "type": "groundtruth/object-detection",
 *                      "human-annotated": STR, "creation-date": STR, "job-name": STR,
 *                      "adjustment-status": STR}}                  (adjustment jobs; optional)
 *
 * Strings hold no escapes and are valid UTF-8; numbers are JSON numbers (an integer has at most
 * 18 digits); whitespace is as JSON allows. A line that differs in anything, a blank line
 * included, is left to the Python reader (gtkit._parse), whose columns this one matches:
 * numbers are converted exactly as orjson and float() convert them (correctly rounded).
 *
 * It returns (pos, lines, sources, humans, dates, jobs, per_line, per_box, class_maps):
 * `pos` is where it stopped, `lines` how many lines it read; `sources` holds each line's
 * source-ref; `humans`, `dates` and `jobs` hold the distinct human-annotated, creation-date and
 * job-name texts, in order of first appearance; `per_line` is float64 bytes, seven a line
 * (boxes, image width, image height, then the codes of its class map, human-annotated,
 * creation-date and job-name: positions in `class_maps`, `humans`, `dates`, `jobs`);
 * `per_box` is float64 bytes, six a box (left, top, width, height, class id, confidence);
 * `class_maps` holds the distinct class-map objects as JSON bytes, by code.
 *
 * scan_csv(rows, fields, (image, label, xmin, xmax, ymin, ymax)[, suffix]) reads the rows of a
 * box CSV (an Open Images file without its header) whose columns at those positions are an image
 * id, a label (position -1: none) and the box's corners; each row must have `fields` fields. It
 * returns (codes, corners, images, labels): `codes` is float64 bytes, two a row (the image's and
 * the label's position in `images` and `labels`, which hold the distinct texts in order of first
 * appearance, as pandas.factorize gives them, each image id followed by the bytes `suffix`, if
 * given: a file name); `corners` is float64 bytes, four a row. It
 * returns None if any row is not of the simple kind it reads (a quote, a carriage return, a
 * NUL, a blank line, another number of fields, a number of more than 15 significant digits or a
 * power of ten beyond 1e+-22, text that is not UTF-8): pandas then reads them, and agrees on
 * the rest.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define MAX_MAPS 64
#define PER_LINE 7 /* doubles a line: boxes, width, height, class-map, human, date, job codes */

typedef struct {
    double *data;
    Py_ssize_t len, cap;
} Doubles;

typedef struct {
    const char *s;
    Py_ssize_t n;
} Span;

typedef struct {
    const char *p, *end;
} Cursor;

static const double POW10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                               1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                               1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* scan reads lines without the GIL, so that threads read blocks side by side. Meanwhile the
 * thread state it saved is here (NULL otherwise): the one call into Python, for a number beyond
 * the exact fast path, takes the GIL back for itself. Memory is the raw allocator's (no GIL
 * needed); running out of it sets `out_of_memory`, raised as MemoryError once the GIL is back. */
#if defined(_MSC_VER)
#define THREAD_LOCAL __declspec(thread)
#else
#define THREAD_LOCAL _Thread_local
#endif
static THREAD_LOCAL PyThreadState *released;
static THREAD_LOCAL int out_of_memory;

static int no_memory(void) {
    out_of_memory = 1;
    return 0;
}

/* With the GIL: MemoryError if memory ran out since the last call (then 1), else 0. */
static int raise_out_of_memory(void) {
    if (!out_of_memory) return 0;
    out_of_memory = 0;
    PyErr_NoMemory();
    return 1;
}

static int reserve(Doubles *d, Py_ssize_t needed) {
    if (needed <= d->cap) return 1;
    Py_ssize_t cap = d->cap ? d->cap : 4096;
    while (cap < needed) cap *= 2;
    double *data = PyMem_RawRealloc(d->data, (size_t)cap * sizeof(double));
    if (!data) return no_memory();
    d->data = data;
    d->cap = cap;
    return 1;
}

static inline void skip_ws(Cursor *c) {
    while (c->p < c->end && (unsigned char)*c->p <= ' ' &&
           (*c->p == ' ' || *c->p == '\t' || *c->p == '\r'))
        c->p++;
}

static inline int take(Cursor *c, char ch) {
    if (c->p < c->end && *c->p == ch) { /* the usual case: no space before it */
        c->p++;
        return 1;
    }
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* One UTF-8 sequence at p (first byte >= 0x80), strictly (no overlongs, no surrogates);
 * its length, or 0 where it is not valid. */
static Py_ssize_t utf8_length(const unsigned char *p, const unsigned char *end) {
    unsigned char b = p[0];
    Py_ssize_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) {
        n = 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
        n = 3;
        if (b == 0xE0) lo = 0xA0;
        if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        n = 4;
        if (b == 0xF0) lo = 0x90;
        if (b == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    if (end - p < n) return 0;
    if (p[1] < lo || p[1] > hi) return 0;
    for (Py_ssize_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF) return 0;
    return n;
}

/* Whether any of 8 bytes is a quote, a backslash, a control character or not ASCII (a bit set
 * in some byte); once one is, later bytes may be flagged too. */
static inline uint64_t notable(uint64_t x) {
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    uint64_t quote = x ^ (ones * '"'), backslash = x ^ (ones * '\\');
    return (((quote - ones) & ~quote) | ((backslash - ones) & ~backslash) |
            ((x - ones * 0x20) & ~x) | x) &
           highs;
}

/* A string without escapes: its bytes between the quotes. */
static int read_string(Cursor *c, Span *out) {
    skip_ws(c);
    if (c->p >= c->end || *c->p != '"') return 0;
    const unsigned char *p = (const unsigned char *)c->p + 1;
    const unsigned char *end = (const unsigned char *)c->end;
    const unsigned char *start = p;
    for (uint64_t word; end - p >= 8; p += 8) { /* eight plain bytes at a time */
        memcpy(&word, p, 8);
        if (notable(word)) break;
    }
    while (p < end) {
        unsigned char b = *p;
        if (b == '"') {
            out->s = (const char *)start;
            out->n = (Py_ssize_t)(p - start);
            c->p = (const char *)p + 1;
            return 1;
        }
        if (b < 0x20 || b == '\\') return 0;
        if (b < 0x80) {
            p++;
        } else {
            Py_ssize_t n = utf8_length(p, end);
            if (!n) return 0;
            p += n;
        }
    }
    return 0;
}

static inline int is_digit(char ch) { return ch >= '0' && ch <= '9'; }

/* A JSON number as the Python reader converts it: orjson gives an int or a correctly rounded
 * float, and float() of an int is correctly rounded too. With `exact_only`, only numbers of at
 * most 15 significant digits and a power of ten within 1e+-22, which every correct reader
 * (pandas' too) converts to the same double. */
static int read_number_as(Cursor *c, double *out, int exact_only) {
    skip_ws(c);
    const char *p = c->p, *end = c->end;
    int negative = 0, integral = 1, significant = 0;
    uint64_t mantissa = 0;
    long exponent = 0;
    if (p < end && *p == '-') {
        negative = 1;
        p++;
    }
    const char *digits = p; /* the number without its sign */
    if (p >= end || !is_digit(*p)) return 0;
    if (*p == '0') {
        p++;
        if (p < end && is_digit(*p)) return 0; /* no leading zeros in JSON */
    } else {
        while (p < end && is_digit(*p)) {
            if (significant < 19) mantissa = mantissa * 10 + (uint64_t)(*p - '0');
            else exponent++;
            significant++;
            p++;
        }
    }
    if (p < end && *p == '.') {
        integral = 0;
        p++;
        if (p >= end || !is_digit(*p)) return 0;
        while (p < end && is_digit(*p)) {
            if (mantissa || *p != '0') {
                if (significant < 19) {
                    mantissa = mantissa * 10 + (uint64_t)(*p - '0');
                    exponent--;
                }
                significant++;
            } else {
                exponent--;
            }
            p++;
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        integral = 0;
        p++;
        int minus = 0;
        if (p < end && (*p == '+' || *p == '-')) minus = *p++ == '-';
        if (p >= end || !is_digit(*p)) return 0;
        long e = 0;
        while (p < end && is_digit(*p)) {
            if (e < 100000) e = e * 10 + (*p - '0');
            p++;
        }
        exponent += minus ? -e : e;
    }
    c->p = p;
    if (integral) {
        if (significant > (exact_only ? 15 : 18)) return 0; /* orjson's big integers: its own */
        if (exact_only && negative && !mantissa) return 0; /* -0: pandas reads 0 or -0.0 */
        double v = (double)mantissa;
        *out = negative && mantissa ? -v : v; /* the int -0 is 0 */
        return 1;
    }
    double v;
    if (significant <= 15 && exponent >= -22 && exponent <= 22) {
        /* Exact mantissa and power of ten: one correctly rounded operation (Clinger). */
        v = exponent < 0 ? (double)mantissa / POW10[-exponent] : (double)mantissa * POW10[exponent];
    } else {
        if (exact_only) return 0;
        char text[64];
        Py_ssize_t n = (Py_ssize_t)(p - digits);
        if (n >= (Py_ssize_t)sizeof(text)) return 0;
        memcpy(text, digits, (size_t)n);
        text[n] = '\0';
        char *stop;
        if (released) PyEval_RestoreThread(released);
        v = PyOS_string_to_double(text, &stop, NULL);
        int failed = v == -1.0 && PyErr_Occurred();
        if (failed) PyErr_Clear();
        if (released) released = PyEval_SaveThread();
        if (failed || stop != text + n) return 0;
        if (!isfinite(v) || (v == 0.0 && mantissa)) return 0; /* left to the Python reader */
    }
    *out = negative ? -v : v;
    return 1;
}

static int read_number(Cursor *c, double *out) { return read_number_as(c, out, 0); }

static inline int key_is(const Span *k, const char *name, Py_ssize_t n) {
    return k->n == n && memcmp(k->s, name, (size_t)n) == 0;
}
#define KEY_IS(k, lit) key_is((k), (lit), (Py_ssize_t)(sizeof(lit) - 1))

/* {"key": value, ...}: calls member(cursor, key, state) for each member. */
typedef int (*Member)(Cursor *, const Span *, void *);

static int read_object(Cursor *c, Member member, void *state) {
    if (!take(c, '{')) return 0;
    if (take(c, '}')) return 1;
    for (;;) {
        Span key;
        if (!read_string(c, &key) || !take(c, ':') || !member(c, &key, state)) return 0;
        if (take(c, ',')) continue;
        return take(c, '}');
    }
}

/* ---------------------------------------------------------------- one line */
typedef struct {
    Doubles *boxes;
    Py_ssize_t base;    /* the line's first box row */
    Py_ssize_t count;   /* annotations read */
    Py_ssize_t scores;  /* objects (confidences) read */
    int seen;
    double image[2];
    Span source, kind, human, date, job, class_map, adjustment;
} Line;

#define EVERY_PART 0x7FF /* the bits of `seen` a line must have */
#define ADJUSTED 0x800   /* and an adjustment job's "adjustment-status" (text), which it may */

static double *box_row(Line *line, Py_ssize_t i) {
    if (!reserve(line->boxes, (line->base + i + 1) * 6)) return NULL;
    return line->boxes->data + (line->base + i) * 6;
}

static int box_member(Cursor *c, const Span *k, void *state) {
    double *row = ((double **)state)[0];
    int *seen = (int *)((double **)state)[1];
    int at;
    if (KEY_IS(k, "left")) at = 0;
    else if (KEY_IS(k, "top")) at = 1;
    else if (KEY_IS(k, "width")) at = 2;
    else if (KEY_IS(k, "height")) at = 3;
    else if (KEY_IS(k, "class_id")) at = 4;
    else return 0;
    if (*seen & (1 << at)) return 0;
    *seen |= 1 << at;
    return read_number(c, &row[at]);
}

static int read_annotations(Cursor *c, Line *line) {
    if (!take(c, '[')) return 0;
    if (take(c, ']')) return 1;
    for (;;) {
        double *row = box_row(line, line->count);
        if (!row) return 0; /* out of memory: the caller checks out_of_memory */
        int seen = 0;
        void *state[2] = {row, &seen};
        if (!read_object(c, box_member, state) || seen != 0x1F) return 0;
        line->count++;
        if (take(c, ',')) continue;
        return take(c, ']');
    }
}

static int size_member(Cursor *c, const Span *k, void *state) {
    double *size = ((double **)state)[0];
    int *seen = (int *)((double **)state)[1];
    int at;
    double depth;
    if (KEY_IS(k, "width")) at = 0;
    else if (KEY_IS(k, "height")) at = 1;
    else if (KEY_IS(k, "depth")) at = 2;
    else return 0;
    if (*seen & (1 << at)) return 0;
    *seen |= 1 << at;
    return read_number(c, at < 2 ? &size[at] : &depth);
}

static int value_member(Cursor *c, const Span *k, void *state) {
    Line *line = state;
    if (KEY_IS(k, "annotations")) {
        if (line->seen & 1) return 0;
        line->seen |= 1;
        return read_annotations(c, line);
    }
    if (KEY_IS(k, "image_size")) {
        if (line->seen & 2) return 0;
        line->seen |= 2;
        int seen = 0;
        void *size_state[2] = {line->image, &seen};
        /* exactly one size, with a width and a height */
        return take(c, '[') && read_object(c, size_member, size_state) && (seen & 3) == 3 &&
               take(c, ']');
    }
    return 0;
}

static int score_member(Cursor *c, const Span *k, void *state) {
    return KEY_IS(k, "confidence") && read_number(c, state);
}

static int read_scores(Cursor *c, Line *line) {
    if (!take(c, '[')) return 0;
    if (take(c, ']')) return 1;
    for (;;) {
        double *row = box_row(line, line->scores);
        if (!row) return 0; /* out of memory: the caller checks out_of_memory */
        row[5] = NAN;
        if (!read_object(c, score_member, &row[5]) || isnan(row[5])) return 0;
        line->scores++;
        if (take(c, ',')) continue;
        return take(c, ']');
    }
}

static int map_member(Cursor *c, const Span *k, void *state) {
    (void)k;
    (void)state;
    Span name;
    return read_string(c, &name);
}

static int meta_member(Cursor *c, const Span *k, void *state) {
    Line *line = state;
    Span *text;
    int bit;
    if (KEY_IS(k, "type")) text = &line->kind, bit = 4;
    else if (KEY_IS(k, "human-annotated")) text = &line->human, bit = 8;
    else if (KEY_IS(k, "creation-date")) text = &line->date, bit = 16;
    else if (KEY_IS(k, "job-name")) text = &line->job, bit = 32;
    else if (KEY_IS(k, "objects")) text = NULL, bit = 64;
    else if (KEY_IS(k, "class-map")) text = NULL, bit = 128;
    else if (KEY_IS(k, "adjustment-status")) text = &line->adjustment, bit = ADJUSTED;
    else return 0;
    if (line->seen & bit) return 0;
    line->seen |= bit;
    if (text) return read_string(c, text);
    if (bit == 64) return read_scores(c, line);
    skip_ws(c);
    const char *start = c->p;
    if (!read_object(c, map_member, NULL)) return 0;
    line->class_map.s = start;
    line->class_map.n = (Py_ssize_t)(c->p - start);
    return 1;
}

typedef struct {
    Line *line;
    Span attribute;
} Top;

static int top_member(Cursor *c, const Span *k, void *state) {
    Top *top = state;
    Line *line = top->line;
    const Span *a = &top->attribute;
    if (KEY_IS(k, "source-ref")) {
        if (line->seen & 256) return 0;
        line->seen |= 256;
        return read_string(c, &line->source);
    }
    if (k->n == a->n && memcmp(k->s, a->s, (size_t)a->n) == 0) {
        if (line->seen & 512) return 0;
        line->seen |= 512;
        return read_object(c, value_member, line);
    }
    if (k->n == a->n + 9 && memcmp(k->s, a->s, (size_t)a->n) == 0 &&
        memcmp(k->s + a->n, "-metadata", 9) == 0) {
        if (line->seen & 1024) return 0;
        line->seen |= 1024;
        return read_object(c, meta_member, line);
    }
    return 0;
}

/* ---------------------------------------------------------------- distinct texts */
/* Distinct byte strings in order of first appearance (pandas.factorize's order). */
typedef struct {
    Span *items;
    Py_ssize_t count, cap; /* items held and allocated */
    Py_ssize_t *slot;      /* open addressing: -1 or an item's code */
    size_t mask;
} Distinct;

static uint64_t hash_bytes(const char *s, Py_ssize_t n) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (Py_ssize_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static int distinct_grow(Distinct *d) {
    size_t cap = d->mask ? 2 * (d->mask + 1) : 1024;
    Py_ssize_t *slot = PyMem_RawMalloc(cap * sizeof(Py_ssize_t));
    Span *items = PyMem_RawRealloc(d->items, cap / 2 * sizeof(Span));
    if (!slot || !items) {
        PyMem_RawFree(slot);
        if (items) d->items = items;
        return no_memory();
    }
    d->items = items;
    d->cap = (Py_ssize_t)(cap / 2);
    for (size_t i = 0; i < cap; i++) slot[i] = -1;
    for (Py_ssize_t code = 0; code < d->count; code++) {
        size_t at = hash_bytes(items[code].s, items[code].n) & (cap - 1);
        while (slot[at] >= 0) at = (at + 1) & (cap - 1);
        slot[at] = code;
    }
    PyMem_RawFree(d->slot);
    d->slot = slot;
    d->mask = cap - 1;
    return 1;
}

/* The code of `text`, added if new; -1 where out of memory (out_of_memory is set). */
static Py_ssize_t distinct_code(Distinct *d, Span text) {
    if (d->count >= d->cap && !distinct_grow(d)) return -1;
    size_t at = hash_bytes(text.s, text.n) & d->mask;
    for (; d->slot[at] >= 0; at = (at + 1) & d->mask) {
        Span *seen = &d->items[d->slot[at]];
        if (seen->n == text.n && memcmp(seen->s, text.s, (size_t)text.n) == 0) return d->slot[at];
    }
    d->items[d->count] = text;
    d->slot[at] = d->count;
    return d->count++;
}

/* The distinct texts as str, each followed by `suffix` (UTF-8, often empty). */
static PyObject *distinct_texts_with(Distinct *d, Span suffix) {
    PyObject *out = PyList_New(d->count);
    char *joined = NULL;
    Py_ssize_t room = 0;
    for (Py_ssize_t i = 0; out && i < d->count; i++) {
        Span t = d->items[i];
        if (suffix.n) {
            if (t.n + suffix.n > room) {
                room = 2 * (t.n + suffix.n);
                char *more = PyMem_Realloc(joined, (size_t)room);
                if (!more) {
                    PyErr_NoMemory();
                    Py_CLEAR(out);
                    break;
                }
                joined = more;
            }
            memcpy(joined, t.s, (size_t)t.n);
            memcpy(joined + t.n, suffix.s, (size_t)suffix.n);
            t = (Span){joined, t.n + suffix.n};
        }
        PyObject *text = PyUnicode_DecodeUTF8(t.s, t.n, "strict");
        if (!text) Py_CLEAR(out);
        else PyList_SET_ITEM(out, i, text);
    }
    PyMem_Free(joined);
    return out;
}

static PyObject *distinct_texts(Distinct *d) { return distinct_texts_with(d, (Span){"", 0}); }

/* Codes of a line's text that usually repeats from line to line (yes/no, dates, job names). */
typedef struct {
    Distinct distinct;
    Py_ssize_t last; /* the code of the previous line's text, or -1 */
} Coder;

static Py_ssize_t coder_code(Coder *k, Span text) {
    if (k->last >= 0) {
        const Span *seen = &k->distinct.items[k->last];
        if (seen->n == text.n && memcmp(seen->s, text.s, (size_t)text.n) == 0) return k->last;
    }
    Py_ssize_t code = distinct_code(&k->distinct, text);
    k->last = code;
    return code;
}

static void distinct_free(Distinct *d) {
    PyMem_RawFree(d->items);
    PyMem_RawFree(d->slot);
}

static const char DETECTION[] = "groundtruth/object-detection";

typedef struct {
    Span *items;
    Py_ssize_t len, cap;
} Spans;

/* What scan has read so far: all of it made without the GIL. */
typedef struct {
    const char *data;
    Py_ssize_t size, pos, count;
    Span attribute;
    Doubles lines, boxes;
    Spans sources;
    Span maps[MAX_MAPS];
    int nmaps, last_map;
    Coder coders[3]; /* human-annotated, creation-date, job-name */
} Scan;

/* The code of a line's class map (its JSON text) among those seen; -1 when the table is full. */
static int map_code(Scan *s, const Span *map) {
    if (s->last_map >= 0 && s->maps[s->last_map].n == map->n &&
        memcmp(s->maps[s->last_map].s, map->s, (size_t)map->n) == 0)
        return s->last_map;
    int code = -1;
    for (int m = 0; m < s->nmaps && code < 0; m++)
        if (s->maps[m].n == map->n && memcmp(s->maps[m].s, map->s, (size_t)map->n) == 0) code = m;
    if (code < 0) {
        if (s->nmaps == MAX_MAPS) return -1; /* the next call starts a new table */
        s->maps[s->nmaps] = *map;
        code = s->nmaps++;
    }
    s->last_map = code;
    return code;
}

/* Read usual lines from s->pos until one is not (the GIL may be released: no Python here but
 * what read_number_as takes the GIL for). 0 where memory ran out. */
static int scan_lines(Scan *s) {
    Top top = {NULL, s->attribute};
    const Py_ssize_t kind_n = (Py_ssize_t)(sizeof(DETECTION) - 1);
    while (s->pos < s->size) {
        const char *start = s->data + s->pos;
        const char *stop = memchr(start, '\n', (size_t)(s->size - s->pos));
        const char *end = stop ? stop : s->data + s->size;
        Line line = {.boxes = &s->boxes, .base = s->boxes.len / 6};
        top.line = &line;
        Cursor c = {start, end};
        int ok = read_object(&c, top_member, &top);
        if (out_of_memory) return 0;
        skip_ws(&c);
        if (!ok || c.p != end || (line.seen & EVERY_PART) != EVERY_PART ||
            line.count != line.scores || line.kind.n != kind_n ||
            memcmp(line.kind.s, DETECTION, (size_t)kind_n) != 0)
            return 1;
        int code = map_code(s, &line.class_map);
        if (code < 0) return 1;
        Py_ssize_t human = coder_code(&s->coders[0], line.human);
        Py_ssize_t date = coder_code(&s->coders[1], line.date);
        Py_ssize_t job = coder_code(&s->coders[2], line.job);
        if (human < 0 || date < 0 || job < 0 || !reserve(&s->lines, s->lines.len + PER_LINE))
            return 0;
        if (s->sources.len == s->sources.cap) {
            Py_ssize_t cap = s->sources.cap ? 2 * s->sources.cap : 1024;
            Span *items = PyMem_RawRealloc(s->sources.items, (size_t)cap * sizeof(Span));
            if (!items) return no_memory();
            s->sources.items = items;
            s->sources.cap = cap;
        }
        s->sources.items[s->sources.len++] = line.source;
        double *row = s->lines.data + s->lines.len;
        row[0] = (double)line.count;
        row[1] = line.image[0];
        row[2] = line.image[1];
        row[3] = (double)code;
        row[4] = (double)human;
        row[5] = (double)date;
        row[6] = (double)job;
        s->lines.len += PER_LINE;
        s->boxes.len = (line.base + line.count) * 6;
        s->count++;
        s->pos = stop ? (Py_ssize_t)(stop - s->data) + 1 : s->size;
    }
    return 1;
}

static PyObject *new_list(Py_ssize_t n, PyObject *(*item)(const Span *), const Span *spans) {
    PyObject *out = PyList_New(n);
    for (Py_ssize_t i = 0; out && i < n; i++) {
        PyObject *text = item(&spans[i]);
        if (!text) Py_CLEAR(out);
        else PyList_SET_ITEM(out, i, text);
    }
    return out;
}

static PyObject *utf8_text(const Span *s) { return PyUnicode_DecodeUTF8(s->s, s->n, "strict"); }
static PyObject *raw_bytes(const Span *s) { return PyBytes_FromStringAndSize(s->s, s->n); }

static PyObject *scan(PyObject *module, PyObject *args) {
    (void)module;
    Py_buffer block, attribute;
    Scan s = {.last_map = -1, .coders = {{.last = -1}, {.last = -1}, {.last = -1}}};
    if (!PyArg_ParseTuple(args, "y*ny*", &block, &s.pos, &attribute)) return NULL;
    PyObject *result = NULL, *sources = NULL, *maps = NULL, *texts[3] = {NULL, NULL, NULL};
    s.data = block.buf;
    s.size = block.len;
    s.attribute = (Span){attribute.buf, attribute.len};
    if (s.pos < 0 || s.pos > s.size) {
        PyErr_SetString(PyExc_ValueError, "pos is outside the block");
        goto done;
    }
    released = PyEval_SaveThread(); /* the buffers stay exported, so stay put, meanwhile */
    int ok = scan_lines(&s);
    PyEval_RestoreThread(released);
    released = NULL;
    if (!ok) {
        raise_out_of_memory();
        goto done;
    }
    if (!(sources = new_list(s.sources.len, utf8_text, s.sources.items))) goto done;
    if (!(maps = new_list(s.nmaps, raw_bytes, s.maps))) goto done;
    for (int i = 0; i < 3; i++)
        if (!(texts[i] = distinct_texts(&s.coders[i].distinct))) goto done;
    result = Py_BuildValue("nnOOOOy#y#O", s.pos, s.count, sources, texts[0], texts[1], texts[2],
                           (const char *)(s.lines.data ? s.lines.data : (double *)""),
                           s.lines.len * (Py_ssize_t)sizeof(double),
                           (const char *)(s.boxes.data ? s.boxes.data : (double *)""),
                           s.boxes.len * (Py_ssize_t)sizeof(double), maps);
done:
    Py_XDECREF(sources);
    Py_XDECREF(maps);
    for (int i = 0; i < 3; i++) {
        Py_XDECREF(texts[i]);
        distinct_free(&s.coders[i].distinct);
    }
    PyMem_RawFree(s.lines.data);
    PyMem_RawFree(s.boxes.data);
    PyMem_RawFree(s.sources.items);
    PyBuffer_Release(&block);
    PyBuffer_Release(&attribute);
    return result;
}

/* ---------------------------------------------------------------- box CSVs */
typedef struct {
    Doubles codes; /* image and label codes, two a row (as doubles: exact below 2**53) */
    Doubles corners;
    Distinct images, labels;
} Csv;

/* One row of fields separated by commas: 1 if it is read, 0 if it is not of the simple kind
 * (another number of fields, a number not exact_only), -1 where out of memory. */
static int csv_row(Csv *csv, const char *p, const char *end, Py_ssize_t fields,
                   const Py_ssize_t *col) {
    Span image = {0}, label = {0};
    double corner[4];
    int have_label = col[1] < 0;
    Py_ssize_t f = 0;
    for (;; f++) { /* no quote, no carriage return: scan_csv looked at the whole block */
        const char *start = p;
        const char *comma = memchr(p, ',', (size_t)(end - p));
        p = comma ? comma : end;
        if (f == col[0]) image = (Span){start, (Py_ssize_t)(p - start)};
        if (f == col[1]) label = (Span){start, (Py_ssize_t)(p - start)}, have_label = 1;
        for (int k = 0; k < 4; k++) {
            if (f != col[2 + k]) continue;
            Cursor c = {start, p};
            if (start == p || *start == ' ' || *start == '\t' ||
                !read_number_as(&c, &corner[k], 1) || c.p != p)
                return 0;
        }
        if (p == end) break;
        p++; /* the comma */
    }
    if (f + 1 != fields || !have_label) return 0;
    Py_ssize_t i = distinct_code(&csv->images, image);
    Py_ssize_t l = col[1] < 0 ? 0 : distinct_code(&csv->labels, label);
    if (i < 0 || l < 0) return -1;
    if (!reserve(&csv->codes, csv->codes.len + 2) || !reserve(&csv->corners, csv->corners.len + 4))
        return -1;
    csv->codes.data[csv->codes.len++] = (double)i;
    csv->codes.data[csv->codes.len++] = (double)l;
    memcpy(csv->corners.data + csv->corners.len, corner, sizeof(corner));
    csv->corners.len += 4;
    return 1;
}

static PyObject *scan_csv(PyObject *module, PyObject *args) {
    (void)module;
    Py_buffer block;
    Py_ssize_t fields, col[6];
    Span suffix = {"", 0};
    if (!PyArg_ParseTuple(args, "y*n(nnnnnn)|y#", &block, &fields, &col[0], &col[1], &col[2],
                          &col[3], &col[4], &col[5], &suffix.s, &suffix.n))
        return NULL;
    Csv csv = {0};
    PyObject *result = NULL, *images = NULL, *labels = NULL;
    const char *data = block.buf, *end = data + block.len;
    int simple = 1;
    /* Without the GIL (exact numbers only: no call into Python), as scan reads lines. */
    Py_BEGIN_ALLOW_THREADS
    simple = !memchr(data, '"', (size_t)block.len) && !memchr(data, '\r', (size_t)block.len) &&
             !memchr(data, '\0', (size_t)block.len); /* pandas 2 and 3 read a NUL differently */
    Py_ssize_t guess = block.len / 32 + 16; /* rows: a usual row is longer */
    if (simple && (!reserve(&csv.codes, 2 * guess) || !reserve(&csv.corners, 4 * guess)))
        simple = 0;
    for (const char *p = data; simple && p < end;) {
        const char *stop = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = stop ? stop : end;
        int row = line_end > p ? csv_row(&csv, p, line_end, fields, col) : 0; /* blank: no */
        if (row <= 0) {
            simple = 0;
            break;
        }
        p = stop ? stop + 1 : end;
    }
    Py_END_ALLOW_THREADS
    if (raise_out_of_memory()) goto done;
    if (!simple) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    images = distinct_texts_with(&csv.images, suffix);
    labels = images ? distinct_texts(&csv.labels) : NULL;
    if (!labels) {
        if (PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) { /* not UTF-8: pandas says so */
            PyErr_Clear();
            result = Py_NewRef(Py_None);
        }
        goto done;
    }
    result = Py_BuildValue(
        "y#y#OO", (const char *)(csv.codes.data ? csv.codes.data : (double *)""),
        csv.codes.len * (Py_ssize_t)sizeof(double),
        (const char *)(csv.corners.data ? csv.corners.data : (double *)""),
        csv.corners.len * (Py_ssize_t)sizeof(double), images, labels);
done:
    Py_XDECREF(images);
    Py_XDECREF(labels);
    PyMem_RawFree(csv.codes.data);
    PyMem_RawFree(csv.corners.data);
    distinct_free(&csv.images);
    distinct_free(&csv.labels);
    PyBuffer_Release(&block);
    return result;
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS,
     "scan(block, pos, attribute): read usual object-detection lines from pos (see the "
     "module's source)."},
    {"scan_csv", scan_csv, METH_VARARGS,
     "scan_csv(rows, fields, (image, label, xmin, xmax, ymin, ymax)): a box CSV's rows of the "
     "simple kind as codes, corners and distinct texts, or None (see the module's source)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "gtkit._scan",
    .m_doc = "Compiled readers of object-detection lines and box CSVs.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__scan(void) { return PyModule_Create(&module); }
