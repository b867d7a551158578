/*
 * insmod_py.reloc._native: apply one SHT_REL/SHT_RELA section straight from its
 * file bytes, in C.  An optional accelerator of insmod_py.reloc.apply_table_simple
 * (the reference): same formulas, same order, same checks, and no messages.
 * When an entry would fail (unknown type, field outside the section, symbol
 * index out of range, non-zero RELA target, overflow) every entry already
 * applied is undone, the image is as it was, and the entry's index is returned:
 * the Python reference then runs and words the error.  The image is the
 * caller's; entries are applied in table order, so overlapping or repeated
 * fields give exactly what the sequential reference gives.
 *
 * Recipes come from Python as 256 rows of 4 bytes (known, size, pcrel,
 * check), built from insmod_py.reloc.<machine>.RELOCS: the machine's facts
 * stay in the Python tables.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

enum { CHECK_WRAP, CHECK_UNSIGNED, CHECK_SIGNED, CHECK_BITFIELD };

static uint64_t load_le(const unsigned char *p, int size)
{
    uint64_t v = 0;
    for (int k = size - 1; k >= 0; k--)
        v = v << 8 | p[k];
    return v;
}

static void store_le(unsigned char *p, int size, uint64_t v)
{
    for (int k = 0; k < size; k++, v >>= 8)
        p[k] = (unsigned char)v;
}

/* The low ``bits`` of v read as a two's-complement number (1 <= bits <= 64). */
static int64_t as_signed(uint64_t v, int bits)
{
    if (bits >= 64)
        return (int64_t)v;
    uint64_t sign = (uint64_t)1 << (bits - 1);
    v &= ((uint64_t)1 << bits) - 1;
    return (int64_t)(v ^ sign) - (int64_t)sign;
}

/* binutils' complain_overflow_*, as insmod_py.reloc._fits. */
static int fits(int64_t v, int bits, int check)
{
    if (check == CHECK_WRAP)
        return 1;
    if (bits >= 64) /* every int64 is in range, except negatives as unsigned */
        return check != CHECK_UNSIGNED || v >= 0;
    int64_t half = (int64_t)1 << (bits - 1), full = (int64_t)1 << bits;
    switch (check) {
    case CHECK_UNSIGNED: return v >= 0 && v < full;
    case CHECK_SIGNED: return v >= -half && v < half;
    default: return v >= -half && v < full; /* BITFIELD: signed or unsigned */
    }
}

struct entry {
    uint64_t offset, type, sym;
    int64_t addend;
};

static void decode(const unsigned char *e, int elf64, int rela, struct entry *out)
{
    if (elf64) {
        uint64_t info = load_le(e + 8, 8);
        out->offset = load_le(e, 8);
        out->type = info & 0xffffffffu;
        out->sym = info >> 32;
        out->addend = rela ? (int64_t)load_le(e + 16, 8) : 0;
    } else {
        uint64_t info = load_le(e + 4, 4);
        out->offset = load_le(e, 4);
        out->type = info & 0xff;
        out->sym = info >> 8;
        out->addend = rela ? as_signed(load_le(e + 8, 4), 32) : 0;
    }
}

PyDoc_STRVAR(apply_doc,
"apply(image, raw, values, recipes, target_offset, target_size, base, address_bits,\n"
"      elf64, rela, zero_target) -> int\n\n"
"Apply the relocation entries ``raw`` (a section's bytes) to ``image`` in table\n"
"order; ``values``: one unsigned 64-bit word per symbol index; ``recipes``:\n"
"256 rows of (known, size, pcrel, check).  Returns -1 when every entry was\n"
"applied, else the index of the first entry that fails, with the image untouched.");

static PyObject *apply(PyObject *self, PyObject *args)
{
    Py_buffer image, raw, values, recipes;
    Py_ssize_t target_offset, target_size;
    unsigned long long base;
    int bits, elf64, rela, zero_target;
    if (!PyArg_ParseTuple(args, "w*y*y*y*nnKippp", &image, &raw, &values, &recipes,
                          &target_offset, &target_size, &base, &bits, &elf64, &rela,
                          &zero_target))
        return NULL;
    PyObject *result = NULL;
    uint64_t *undo = NULL;
    Py_ssize_t failed = -1, n = 0, i;
    const size_t entsize = elf64 ? (rela ? 24 : 16) : (rela ? 12 : 8);
    if (values.len % 8 || recipes.len != 256 * 4 ||
        bits < 8 || bits > 64 || bits % 8 || target_offset < 0 || target_size < 0 ||
        target_offset > image.len - target_size || raw.len % (Py_ssize_t)entsize) {
        PyErr_SetString(PyExc_ValueError, "apply: inconsistent arguments");
        goto done;
    }
    n = raw.len / (Py_ssize_t)entsize;
    /* The bytes each applied entry overwrote, to undo them if a later one fails. */
    undo = PyMem_Malloc(n ? (size_t)n * sizeof *undo : 1);
    if (!undo) {
        PyErr_NoMemory();
        goto done;
    }
    {
        unsigned char *img = image.buf;
        const unsigned char *ent = raw.buf, *rec = recipes.buf;
        const uint64_t *vals = values.buf;
        const uint64_t nvals = (uint64_t)(values.len / 8), limit = (uint64_t)target_size;
        const uint64_t mask = bits == 64 ? ~(uint64_t)0 : ((uint64_t)1 << bits) - 1;
        for (i = 0; i < n; i++, ent += entsize) {
            struct entry e;
            decode(ent, elf64, rela, &e);
            if (e.type > 255 || !rec[4 * e.type] || e.sym >= nvals)
                break;
            const int size = rec[4 * e.type + 1], pcrel = rec[4 * e.type + 2];
            const int check = rec[4 * e.type + 3];
            if (size == 0)
                continue; /* R_*_NONE */
            if ((uint64_t)size > limit || e.offset > limit - (uint64_t)size)
                break;
            const uint64_t where = (uint64_t)target_offset + e.offset;
            unsigned char *field = img + where;
            const uint64_t old = load_le(field, size);
            uint64_t addend;
            if (rela) {
                if (zero_target && old)
                    break;
                addend = (uint64_t)e.addend;
            } else {
                addend = (uint64_t)as_signed(old, 8 * size); /* the word, read signed */
            }
            /* Modulo 2**64, then modulo the address width: Python's exact result. */
            uint64_t value = vals[e.sym] + addend;
            if (pcrel)
                value -= base + where;
            const int64_t v = as_signed(value & mask, bits);
            if (!fits(v, 8 * size, check))
                break;
            undo[i] = old;
            store_le(field, size, (uint64_t)v);
        }
        if (i < n) { /* entry i fails: put back what 0..i-1 wrote, last first */
            failed = i;
            for (ent -= entsize; i-- > 0; ent -= entsize) {
                struct entry e;
                decode(ent, elf64, rela, &e);
                const int size = rec[4 * e.type + 1];
                if (size)
                    store_le(img + target_offset + e.offset, size, undo[i]);
            }
        }
    }
    result = PyLong_FromSsize_t(failed);
done:
    PyMem_Free(undo);
    PyBuffer_Release(&image);
    PyBuffer_Release(&raw);
    PyBuffer_Release(&values);
    PyBuffer_Release(&recipes);
    return result;
}

static PyMethodDef methods[] = {
    {"apply", apply, METH_VARARGS, apply_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_native",
    .m_doc = "Relocation sections applied in C (an accelerator of insmod_py.reloc).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__native(void)
{
    return PyModule_Create(&module);
}
