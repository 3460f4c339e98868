/* gtkit._match: matching labeled objects to reference images by file name, and their boxes
 * to reference boxes, compiled.
 *
 * file_names(sources) is [gtkit.references.file_name(s) for s in sources]: the basename of
 * each source after str.strip() and rstrip("/"), or None (not text, or nothing left).
 *
 * image_positions(keys, sources) is, for each source, the position of the key equal to its
 * file name (as file_names gives it), or -1, as int64 bytes: pandas'
 * Index(keys).get_indexer(file_names(sources)) for text keys, which must be distinct (checked
 * only where a source is not found in order). No file name is made: each is compared where it
 * lies in its source.
 *
 * optimal_scores(images, labels, references, max_assignments) is gtkit.boxes.image_scores
 * under the optimal rule: labels and references are each (image, left, top, width, height,
 * class) as 1-D arrays (float64 coordinates, int64 images and classes); the result is float64
 * bytes, a score per image, NaN for images with more than max_assignments one-to-one
 * assignments (numpy matches those). Totals are summed in row order, which may differ from
 * numpy's order in the last bit.
 *
 * text_codes(values) is (codes, distinct) for a sequence of texts and Nones: each value's
 * position in `distinct` (int64 bytes), which holds the distinct values in order of first
 * appearance; None where some value is neither (pandas.factorize then). Classes of boxes are
 * matched by name: their names repeat, usually as the same object, which is compared first.
 *
 * All are optional: gtkit.references and gtkit.boxes do the same in Python and numpy where this
 * was not built.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* Python 3.10 and 3.11 may hold strings not yet in their compact form. */
static int ready(PyObject *text) {
#if PY_VERSION_HEX < 0x030C0000
    return PyUnicode_READY(text) == 0;
#else
    (void)text;
    return 1;
#endif
}

/* A text's code points from `base` to `end`. */
typedef struct {
    PyObject *text;
    Py_ssize_t base, end;
} Slice;

/* The file name of a source as a slice of it (file_name's rules); 0 where there is none. */
static int file_name_slice(PyObject *source, Slice *out) {
    if (!PyUnicode_Check(source) || !ready(source)) return 0;
    Py_ssize_t end = PyUnicode_GET_LENGTH(source), start = 0;
    int kind = PyUnicode_KIND(source);
    const void *data = PyUnicode_DATA(source);
    while (start < end && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, start))) start++;
    while (end > start && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, end - 1))) end--;
    while (end > start && PyUnicode_READ(kind, data, end - 1) == '/') end--;
    Py_ssize_t base = end;
    while (base > start && PyUnicode_READ(kind, data, base - 1) != '/') base--;
    *out = (Slice){source, base, end};
    return base < end;
}

static PyObject *file_name(PyObject *source) {
    Slice name;
    if (file_name_slice(source, &name)) return PyUnicode_Substring(source, name.base, name.end);
    if (PyErr_Occurred()) return NULL;
    Py_RETURN_NONE;
}

static PyObject *file_names(PyObject *module, PyObject *sources) {
    (void)module;
    PyObject *seq = PySequence_Fast(sources, "file_names takes a sequence");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    PyObject *out = PyList_New(n);
    if (out) {
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *name = file_name(items[i]);
            if (!name) {
                Py_CLEAR(out);
                break;
            }
            PyList_SET_ITEM(out, i, name);
        }
    }
    Py_DECREF(seq);
    return out;
}

static int same_slice(const Slice *a, const Slice *b) {
    Py_ssize_t n = a->end - a->base;
    if (n != b->end - b->base) return 0;
    int ka = PyUnicode_KIND(a->text), kb = PyUnicode_KIND(b->text);
    const void *da = PyUnicode_DATA(a->text), *db = PyUnicode_DATA(b->text);
    if (ka == kb)
        return memcmp((const char *)da + a->base * ka, (const char *)db + b->base * kb,
                      (size_t)n * (size_t)ka) == 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (PyUnicode_READ(ka, da, a->base + i) != PyUnicode_READ(kb, db, b->base + i)) return 0;
    return 1;
}

/* FNV-1a over code points: the same for a text however Python stores it. */
static uint64_t hash_slice(const Slice *t) {
    int kind = PyUnicode_KIND(t->text);
    const void *data = PyUnicode_DATA(t->text);
    uint64_t h = 1469598103934665603ULL;
    for (Py_ssize_t i = t->base; i < t->end; i++)
        h = (h ^ PyUnicode_READ(kind, data, i)) * 1099511628211ULL;
    return h;
}

typedef struct {
    Slice *keys;
    Py_ssize_t nkeys;
    Py_ssize_t *slot; /* open addressing: -1 or a key's position */
    uint64_t *hashes;
    size_t mask;
} Table;

static int table_build(Table *t) {
    size_t cap = 16;
    while (cap < 2 * (size_t)t->nkeys) cap *= 2;
    t->slot = PyMem_Malloc(cap * sizeof(Py_ssize_t));
    t->hashes = PyMem_Malloc(cap * sizeof(uint64_t));
    if (!t->slot || !t->hashes) {
        PyErr_NoMemory();
        return 0;
    }
    t->mask = cap - 1;
    for (size_t i = 0; i < cap; i++) t->slot[i] = -1;
    for (Py_ssize_t k = 0; k < t->nkeys; k++) {
        uint64_t h = hash_slice(&t->keys[k]);
        size_t at = h & t->mask;
        for (; t->slot[at] >= 0; at = (at + 1) & t->mask)
            if (t->hashes[at] == h && same_slice(&t->keys[t->slot[at]], &t->keys[k])) {
                PyErr_SetString(PyExc_ValueError, "image_positions: keys must be distinct");
                return 0;
            }
        t->slot[at] = k;
        t->hashes[at] = h;
    }
    return 1;
}

static Py_ssize_t table_find(const Table *t, const Slice *name) {
    uint64_t h = hash_slice(name);
    for (size_t at = h & t->mask; t->slot[at] >= 0; at = (at + 1) & t->mask)
        if (t->hashes[at] == h && same_slice(&t->keys[t->slot[at]], name)) return t->slot[at];
    return -1;
}

static PyObject *image_positions(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *keys_arg, *sources_arg;
    if (!PyArg_ParseTuple(args, "OO", &keys_arg, &sources_arg)) return NULL;
    PyObject *keys = PySequence_Fast(keys_arg, "image_positions takes sequences");
    if (!keys) return NULL;
    PyObject *sources = PySequence_Fast(sources_arg, "image_positions takes sequences");
    if (!sources) {
        Py_DECREF(keys);
        return NULL;
    }
    PyObject *result = NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(sources);
    PyObject **key = PySequence_Fast_ITEMS(keys), **source = PySequence_Fast_ITEMS(sources);
    Table table = {.nkeys = PySequence_Fast_GET_SIZE(keys)};
    int64_t *out = PyMem_Malloc(((size_t)n + 1) * sizeof(int64_t));
    table.keys = PyMem_Malloc(((size_t)table.nkeys + 1) * sizeof(Slice));
    if (!out || !table.keys) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t k = 0; k < table.nkeys; k++) {
        if (!PyUnicode_Check(key[k]) || !ready(key[k])) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "image_positions: every key must be text");
            goto done;
        }
        table.keys[k] = (Slice){key[k], 0, PyUnicode_GET_LENGTH(key[k])};
    }
    /* Sources usually come in the order of the keys (both sorted, or made together): the key
     * after the last one found is tried first, and the table built only when that fails. */
    Py_ssize_t next = 0;
    for (Py_ssize_t j = 0; j < n; j++) {
        Slice name;
        out[j] = -1;
        if (!file_name_slice(source[j], &name)) {
            if (PyErr_Occurred()) goto done;
            continue;
        }
        if (next < table.nkeys && same_slice(&table.keys[next], &name)) {
            out[j] = next++;
            continue;
        }
        if (!table.slot && !table_build(&table)) goto done;
        out[j] = table_find(&table, &name);
        if (out[j] >= 0) next = out[j] + 1;
    }
    result = PyBytes_FromStringAndSize((const char *)out, n * (Py_ssize_t)sizeof(int64_t));
done:
    PyMem_Free(out);
    PyMem_Free(table.keys);
    PyMem_Free(table.slot);
    PyMem_Free(table.hashes);
    Py_DECREF(keys);
    Py_DECREF(sources);
    return result;
}

/* ---------------------------------------------------------------- box matching */
typedef struct {
    Py_buffer view;
    const char *at;
    Py_ssize_t step, len;
} Column;

/* A 1-D buffer of 8-byte items: float64 ("d") or int64 ("l", "q"). */
static int column(PyObject *obj, Column *c, int floats, const char *name) {
    if (PyObject_GetBuffer(obj, &c->view, PyBUF_STRIDES | PyBUF_FORMAT) < 0) return 0;
    const char *f = c->view.format ? c->view.format : "B";
    if (f[0] == '<' || f[0] == '=' || f[0] == '@') f++;
    int ok = c->view.ndim == 1 && c->view.itemsize == 8 &&
             (floats ? strcmp(f, "d") == 0 : strcmp(f, "l") == 0 || strcmp(f, "q") == 0);
    if (!ok) {
        PyErr_Format(PyExc_TypeError, "optimal_scores: %s must be a 1-D %s array", name,
                     floats ? "float64" : "int64");
        PyBuffer_Release(&c->view);
        c->view.obj = NULL;
        return 0;
    }
    c->at = c->view.buf;
    c->step = c->view.strides[0];
    c->len = c->view.shape[0];
    return 1;
}

static inline double fget(const Column *c, Py_ssize_t i) {
    return *(const double *)(c->at + i * c->step);
}
static inline int64_t iget(const Column *c, Py_ssize_t i) {
    return *(const int64_t *)(c->at + i * c->step);
}

/* numpy's minimum and maximum: NaN wins. */
static inline double nmin(double a, double b) {
    return isnan(a) ? a : isnan(b) ? b : a < b ? a : b;
}
static inline double nmax(double a, double b) {
    return isnan(a) ? a : isnan(b) ? b : a > b ? a : b;
}

/* One side's boxes: image, left, top, width, height, class. */
typedef struct {
    Column c[6];
    Py_ssize_t *order, *start, *count; /* boxes grouped by image (a counting sort) */
} Side;

/* gtkit.boxes._pair_iou of one pair, operation for operation. */
static double pair_iou(const Side *a, Py_ssize_t i, const Side *b, Py_ssize_t j) {
    if (iget(&a->c[5], i) != iget(&b->c[5], j)) return 0.0; /* other classes never match */
    double ax = fget(&a->c[1], i), ay = fget(&a->c[2], i), aw = fget(&a->c[3], i),
           ah = fget(&a->c[4], i);
    double bx = fget(&b->c[1], j), by = fget(&b->c[2], j), bw = fget(&b->c[3], j),
           bh = fget(&b->c[4], j);
    double iw = nmax(nmin(ax + aw, bx + bw) - nmax(ax, bx), 0.0);
    double ih = nmax(nmin(ay + ah, by + bh) - nmax(ay, by), 0.0);
    double inter = iw * ih;
    double uni = aw * ah + bw * bh - inter;
    return uni > 0 ? inter / uni : 0.0;
}

static int group(Side *s, Py_ssize_t images) {
    Py_ssize_t n = s->c[0].len;
    s->count = PyMem_Calloc((size_t)images + 1, sizeof(Py_ssize_t));
    s->start = PyMem_Calloc((size_t)images + 1, sizeof(Py_ssize_t));
    s->order = PyMem_Malloc(((size_t)n + 1) * sizeof(Py_ssize_t));
    if (!s->count || !s->start || !s->order) {
        PyErr_NoMemory();
        return 0;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t img = iget(&s->c[0], i);
        if (img < 0 || img >= images) {
            PyErr_SetString(PyExc_ValueError, "optimal_scores: a box's image is out of range");
            return 0;
        }
        s->count[img]++;
    }
    for (Py_ssize_t k = 1; k < images; k++) s->start[k] = s->start[k - 1] + s->count[k - 1];
    Py_ssize_t *fill = PyMem_Calloc((size_t)images + 1, sizeof(Py_ssize_t));
    if (!fill) {
        PyErr_NoMemory();
        return 0;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t img = iget(&s->c[0], i);
        s->order[s->start[img] + fill[img]++] = i; /* stable: boxes keep their order */
    }
    PyMem_Free(fill);
    return 1;
}

/* Every assignment of rows to distinct columns: the largest total IoU (summed in row order)
 * and, among assignments within 1e-12 of it, the most pairs of positive IoU. */
typedef struct {
    const double *iou;
    Py_ssize_t rows, cols;
    char *used;
    double *sums;
    int *positives;
    Py_ssize_t found;
} Search;

static void search(Search *s, Py_ssize_t r, double sum, int positive) {
    if (r == s->rows) {
        s->sums[s->found] = sum;
        s->positives[s->found++] = positive;
        return;
    }
    for (Py_ssize_t c = 0; c < s->cols; c++) {
        if (s->used[c]) continue;
        double v = s->iou[r * s->cols + c];
        s->used[c] = 1;
        search(s, r + 1, sum + v, positive + (v > 0));
        s->used[c] = 0;
    }
}

static PyObject *optimal_scores(PyObject *module, PyObject *args) {
    (void)module;
    Py_ssize_t images, max_assignments;
    PyObject *objs[12];
    if (!PyArg_ParseTuple(args, "n(OOOOOO)(OOOOOO)n", &images, &objs[0], &objs[1], &objs[2],
                          &objs[3], &objs[4], &objs[5], &objs[6], &objs[7], &objs[8], &objs[9],
                          &objs[10], &objs[11], &max_assignments))
        return NULL;
    if (images < 0) {
        PyErr_SetString(PyExc_ValueError, "optimal_scores: images must be >= 0");
        return NULL;
    }
    Side side[2];
    memset(side, 0, sizeof(side));
    PyObject *result = NULL;
    double *scores = NULL, *iou = NULL, *sums = NULL;
    int *positives = NULL;
    char *used = NULL;
    static const char *names[6] = {"image", "left", "top", "width", "height", "class"};
    for (int s = 0; s < 2; s++) {
        for (int k = 0; k < 6; k++)
            if (!column(objs[6 * s + k], &side[s].c[k], k >= 1 && k <= 4, names[k])) goto done;
        for (int k = 1; k < 6; k++)
            if (side[s].c[k].len != side[s].c[0].len) {
                PyErr_SetString(PyExc_ValueError, "optimal_scores: columns differ in length");
                goto done;
            }
        if (!group(&side[s], images)) goto done;
    }
    scores = PyMem_Malloc(((size_t)images + 1) * sizeof(double));
    sums = PyMem_Malloc(((size_t)max_assignments + 1) * sizeof(double));
    positives = PyMem_Malloc(((size_t)max_assignments + 1) * sizeof(int));
    if (!scores || !sums || !positives) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t iou_cap = 0;
    for (Py_ssize_t img = 0; img < images; img++) {
        Py_ssize_t n = side[0].count[img], m = side[1].count[img];
        if (n == 0 || m == 0) {
            scores[img] = n == m ? 1.0 : 0.0;
            continue;
        }
        /* rows: the smaller side (labels where equal), as gtkit.boxes._brute_force has it */
        int flip = n > m;
        Py_ssize_t rows = flip ? m : n, cols = flip ? n : m;
        double assignments = 1;
        for (Py_ssize_t x = cols - rows + 1; x <= cols; x++) assignments *= (double)x;
        if (assignments > (double)max_assignments) {
            scores[img] = NAN; /* left to the Python matcher */
            continue;
        }
        if (rows * cols > iou_cap) {
            iou_cap = 2 * rows * cols;
            double *grown = PyMem_Realloc(iou, (size_t)iou_cap * sizeof(double));
            char *more = PyMem_Realloc(used, (size_t)iou_cap);
            if (!grown || !more) {
                if (grown) iou = grown;
                if (more) used = more;
                PyErr_NoMemory();
                goto done;
            }
            iou = grown;
            used = more;
        }
        const Py_ssize_t *l = side[0].order + side[0].start[img];
        const Py_ssize_t *r = side[1].order + side[1].start[img];
        for (Py_ssize_t i = 0; i < n; i++)
            for (Py_ssize_t j = 0; j < m; j++) {
                double v = pair_iou(&side[0], l[i], &side[1], r[j]);
                iou[flip ? j * n + i : i * m + j] = v;
            }
        /* Each row's best column; where the scoring rows' best columns all differ, taking
         * them is optimal. */
        double best = 0.0;
        int count = 0, clash = 0;
        for (Py_ssize_t a = 0; a < rows; a++) {
            const double *row = iou + a * cols;
            Py_ssize_t pick = 0;
            for (Py_ssize_t c = 1; c < cols; c++)
                if (row[c] > row[pick]) pick = c;
            best += row[pick];
            if (row[pick] > 0) {
                count++;
                if (used[pick]) clash = 1;
                used[pick] = 1;
            }
        }
        memset(used, 0, (size_t)cols);
        if (clash) {
            Search s = {iou, rows, cols, used, sums, positives, 0};
            search(&s, 0, 0.0, 0);
            best = sums[0];
            for (Py_ssize_t k = 1; k < s.found; k++)
                if (sums[k] > best) best = sums[k];
            count = 0;
            for (Py_ssize_t k = 0; k < s.found; k++)
                if (sums[k] >= best - 1e-12 && positives[k] > count) count = positives[k];
        }
        scores[img] = best / (double)(n + m - count);
    }
    result = PyBytes_FromStringAndSize((const char *)scores, images * (Py_ssize_t)sizeof(double));
done:
    for (int s = 0; s < 2; s++) {
        for (int k = 0; k < 6; k++)
            if (side[s].c[k].view.obj) PyBuffer_Release(&side[s].c[k].view);
        PyMem_Free(side[s].order);
        PyMem_Free(side[s].start);
        PyMem_Free(side[s].count);
    }
    PyMem_Free(scores);
    PyMem_Free(iou);
    PyMem_Free(used);
    PyMem_Free(sums);
    PyMem_Free(positives);
    return result;
}

/* ---------------------------------------------------------------- class names */
static PyObject *text_codes(PyObject *module, PyObject *values) {
    (void)module;
    PyObject *seq = PySequence_Fast(values, "text_codes takes a sequence");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **item = PySequence_Fast_ITEMS(seq);
    PyObject *result = NULL, *seen = PyDict_New(), *distinct = PyList_New(0);
    PyObject *codes = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(int64_t));
    if (!seen || !distinct || !codes) goto done;
    int64_t *out = (int64_t *)PyBytes_AS_STRING(codes); /* written in place: no copy */
    PyObject *last = NULL; /* the previous value: neighbours are usually the same object */
    int64_t last_code = -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = item[i];
        if (v == last) {
            out[i] = last_code;
            continue;
        }
        if (v != Py_None && !PyUnicode_CheckExact(v)) { /* not a text: pandas decides */
            result = Py_NewRef(Py_None);
            goto done;
        }
        PyObject *code = PyDict_GetItemWithError(seen, v); /* borrowed */
        if (code) {
            last_code = PyLong_AsLongLong(code);
        } else {
            if (PyErr_Occurred()) goto done;
            last_code = (int64_t)PyList_GET_SIZE(distinct);
            code = PyLong_FromLongLong(last_code);
            int failed = !code || PyDict_SetItem(seen, v, code) < 0 ||
                         PyList_Append(distinct, v) < 0;
            Py_XDECREF(code);
            if (failed) goto done;
        }
        out[i] = last_code;
        last = v;
    }
    result = PyTuple_Pack(2, codes, distinct);
done:
    Py_XDECREF(codes);
    Py_XDECREF(seen);
    Py_XDECREF(distinct);
    Py_DECREF(seq);
    return result;
}

static PyMethodDef methods[] = {
    {"file_names", file_names, METH_O,
     "file_names(sources): each source's file name, as gtkit.references.file_name gives it."},
    {"image_positions", image_positions, METH_VARARGS,
     "image_positions(keys, sources): int64 bytes, the position of each source's file name "
     "among the distinct text keys, or -1."},
    {"optimal_scores", optimal_scores, METH_VARARGS,
     "optimal_scores(images, labels, references, max_assignments): per-image quality under the "
     "optimal rule, float64 bytes (NaN: left to Python)."},
    {"text_codes", text_codes, METH_O,
     "text_codes(values): int64 bytes, each value's position among the distinct values, and "
     "those; None unless every value is text or None."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "gtkit._match",
    .m_doc = "Matching objects to references by file name.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__match(void) { return PyModule_Create(&module); }
