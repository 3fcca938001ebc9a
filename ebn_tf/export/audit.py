"""Audit of a converted flatbuffer: the ops of every subgraph, checked for float fallbacks."""

from __future__ import annotations

from dataclasses import dataclass, field

from tensorflow.lite.python import schema_py_generated as schema

_BUILTIN_NAMES = {
    code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")
}
# Ops whose output is binarised data; a float conv reading it means binarisation at run time.
_BINARISED = {"LceDequantize", "SIGN"}
# Ops that only move data: the audit looks through them for where a conv's input comes from.
_SHAPE_ONLY = {"PAD", "PADV2", "SPLIT", "SPLIT_V", "RESHAPE", "CONCATENATION", "STRIDED_SLICE"}
_FLOAT_CONVS = {"CONV_2D", "DEPTHWISE_CONV_2D"}


@dataclass(frozen=True)
class AuditReport:
    """What a converted model contains.

    Args:
        subgraphs: op names of every subgraph (0 is the main graph; the rest are the
            branches of IF ops).
        size_bytes: flatbuffer size.
        expected_binary_convs: binary convs the model should hold (None: not checked).
        float_convs_on_binary: float convs that binarised data or a computed kernel feed,
            or that sit in a branch subgraph.
        graphdef_fallback: the converter fell back to its GraphDef route.
    """

    subgraphs: list[list[str]]
    size_bytes: int
    expected_binary_convs: int | None = None
    float_convs_on_binary: list[str] = field(default_factory=list)
    graphdef_fallback: bool = False

    def count(self, op: str) -> int:
        return sum(ops.count(op) for ops in self.subgraphs)

    @property
    def binary_convs(self) -> int:
        return self.count("LceBconv2d")

    @property
    def if_ops(self) -> int:
        return self.count("IF")

    @property
    def reasons(self) -> list[str]:
        """Why the audit fails; empty when it passes."""
        reasons = []
        if self.graphdef_fallback:
            reasons.append(
                "the converter fell back to its GraphDef route (weights frozen as operands; "
                "binary convs are not fused there)"
            )
        if (
            self.expected_binary_convs is not None
            and self.binary_convs != self.expected_binary_convs
        ):
            reasons.append(
                f"{self.binary_convs} LceBconv2d found, {self.expected_binary_convs} expected"
            )
        reasons += [
            f"float conv on binarised data: {where}" for where in self.float_convs_on_binary
        ]
        return reasons

    @property
    def ok(self) -> bool:
        return not self.reasons

    def __str__(self) -> str:
        lines = [
            f"audit: {'ok' if self.ok else 'FAILED'}; {self.size_bytes / 1024:.1f} KiB; "
            f"{len(self.subgraphs)} subgraphs, {self.if_ops} IF, {self.binary_convs} LceBconv2d"
            + (f" (expected {self.expected_binary_convs})" if self.expected_binary_convs else "")
            + f", {self.count('CONV_2D')} float CONV_2D"
        ]
        for index, ops in enumerate(self.subgraphs):
            counts = {op: ops.count(op) for op in dict.fromkeys(ops)}
            lines.append(
                f"  subgraph {index}: " + ", ".join(f"{op} x{n}" for op, n in counts.items())
            )
        lines += [f"  problem: {reason}" for reason in self.reasons]
        return "\n".join(lines)


def _op_name(model: schema.Model, operator: schema.Operator) -> str:
    code = model.OperatorCodes(operator.OpcodeIndex())
    if code.CustomCode():
        return code.CustomCode().decode()
    return _BUILTIN_NAMES[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]


def _source(producers: dict, tensor: int) -> str | None:
    """The op that computes ``tensor``, looking through ops that only move data."""
    while tensor in producers and producers[tensor][1] in _SHAPE_ONLY:
        tensor = producers[tensor][0].Inputs(0)
    return producers[tensor][1] if tensor in producers else None


def audit(
    flatbuffer: bytes, expected_binary_convs: int | None = None, graphdef_fallback: bool = False
) -> AuditReport:
    """Read the ops of every subgraph of ``flatbuffer`` and look for float fallbacks."""
    model = schema.Model.GetRootAsModel(flatbuffer, 0)
    subgraphs, suspicious = [], []
    for s in range(model.SubgraphsLength()):
        graph = model.Subgraphs(s)
        operators = [graph.Operators(i) for i in range(graph.OperatorsLength())]
        names = [_op_name(model, op) for op in operators]
        producers = {
            op.Outputs(j): (op, name)
            for op, name in zip(operators, names)
            for j in range(op.OutputsLength())
        }

        for i, (op, name) in enumerate(zip(operators, names)):
            if name not in _FLOAT_CONVS:
                continue
            computed_kernel = op.Inputs(1) in producers
            if _source(producers, op.Inputs(0)) in _BINARISED or computed_kernel or s > 0:
                suspicious.append(f"subgraph {s} op {i} ({name})")
        subgraphs.append(names)
    return AuditReport(
        subgraphs, len(flatbuffer), expected_binary_convs, suspicious, graphdef_fallback
    )
