/* gtkit._match: matching labeled objects to reference images by file name, compiled.
 *
 * file_names(sources) is [gtkit.references.file_name(s) for s in sources]: the basename of
 * each source after str.strip() and rstrip("/"), or None (not text, or nothing left).
 *
 * positions(keys, values) is, for each value, the position of the equal key, or -1 (values that
 * are not text included), as int64 bytes: pandas' Index(keys).get_indexer(values) for text
 * keys, which must be distinct. It hashes as Python does (a string's hash is kept in it).
 *
 * Both are optional: gtkit.references does the same in Python where this was not built.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
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

static PyObject *file_name(PyObject *source) {
    if (!PyUnicode_Check(source)) Py_RETURN_NONE;
    if (!ready(source)) return NULL;
    Py_ssize_t end = PyUnicode_GET_LENGTH(source), start = 0;
    int kind = PyUnicode_KIND(source);
    const void *data = PyUnicode_DATA(source);
    while (start < end && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, start))) start++;
    while (end > start && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, end - 1))) end--;
    while (end > start && PyUnicode_READ(kind, data, end - 1) == '/') end--;
    Py_ssize_t base = end;
    while (base > start && PyUnicode_READ(kind, data, base - 1) != '/') base--;
    if (base == end) Py_RETURN_NONE;
    return PyUnicode_Substring(source, base, end);
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

/* Whether two strings are equal, as str == str. */
static int same_text(PyObject *a, PyObject *b) {
    if (a == b) return 1;
    Py_ssize_t n = PyUnicode_GET_LENGTH(a);
    int kind = PyUnicode_KIND(a);
    return n == PyUnicode_GET_LENGTH(b) && kind == PyUnicode_KIND(b) &&
           memcmp(PyUnicode_DATA(a), PyUnicode_DATA(b), (size_t)n * (size_t)kind) == 0;
}

static PyObject *positions(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *keys_arg, *values_arg;
    if (!PyArg_ParseTuple(args, "OO", &keys_arg, &values_arg)) return NULL;
    PyObject *keys = PySequence_Fast(keys_arg, "positions takes sequences");
    if (!keys) return NULL;
    PyObject *values = PySequence_Fast(values_arg, "positions takes sequences");
    if (!values) {
        Py_DECREF(keys);
        return NULL;
    }
    PyObject *result = NULL;
    Py_ssize_t nkeys = PySequence_Fast_GET_SIZE(keys), n = PySequence_Fast_GET_SIZE(values);
    PyObject **key = PySequence_Fast_ITEMS(keys), **value = PySequence_Fast_ITEMS(values);
    size_t cap = 16;
    while (cap < 2 * (size_t)nkeys) cap *= 2;
    size_t mask = cap - 1;
    Py_ssize_t *slot = PyMem_Malloc(cap * sizeof(Py_ssize_t));
    Py_hash_t *hashes = PyMem_Malloc(cap * sizeof(Py_hash_t));
    int64_t *out = PyMem_Malloc(((size_t)n + 1) * sizeof(int64_t));
    if (!slot || !hashes || !out) {
        PyErr_NoMemory();
        goto done;
    }
    for (size_t s = 0; s < cap; s++) slot[s] = -1;
    for (Py_ssize_t i = 0; i < nkeys; i++) {
        if (!PyUnicode_Check(key[i])) {
            PyErr_SetString(PyExc_TypeError, "positions: every key must be text");
            goto done;
        }
        if (!ready(key[i])) goto done;
        Py_hash_t h = PyObject_Hash(key[i]);
        if (h == -1) goto done;
        size_t s = (size_t)h & mask;
        while (slot[s] >= 0) {
            if (hashes[s] == h && same_text(key[slot[s]], key[i])) {
                PyErr_SetString(PyExc_ValueError, "positions: keys must be distinct");
                goto done;
            }
            s = (s + 1) & mask;
        }
        slot[s] = i;
        hashes[s] = h;
    }
    for (Py_ssize_t j = 0; j < n; j++) {
        out[j] = -1;
        if (!PyUnicode_Check(value[j])) continue;
        if (!ready(value[j])) goto done;
        Py_hash_t h = PyObject_Hash(value[j]);
        if (h == -1) goto done;
        for (size_t s = (size_t)h & mask; slot[s] >= 0; s = (s + 1) & mask) {
            if (hashes[s] == h && same_text(key[slot[s]], value[j])) {
                out[j] = slot[s];
                break;
            }
        }
    }
    result = PyBytes_FromStringAndSize((const char *)out, n * (Py_ssize_t)sizeof(int64_t));
done:
    PyMem_Free(slot);
    PyMem_Free(hashes);
    PyMem_Free(out);
    Py_DECREF(keys);
    Py_DECREF(values);
    return result;
}

static PyMethodDef methods[] = {
    {"file_names", file_names, METH_O,
     "file_names(sources): each source's file name, as gtkit.references.file_name gives it."},
    {"positions", positions, METH_VARARGS,
     "positions(keys, values): int64 bytes, each value's position among the distinct text "
     "keys, or -1."},
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
