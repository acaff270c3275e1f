"""JSON Schema of a task config, with every registered component's parameters."""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

import pydantic
from pydantic import Field, create_model

from .config import OptimizerConfig, TrainConfig
from .manager import Host


def _union(host: Host, kind: str, optional_name: bool = False) -> Any:
    members = []
    comps = host.registry.all(kind)
    names = [c.name for c in comps]
    for comp in comps:
        name = comp.name if names.count(comp.name) == 1 else comp.qualified_name
        default = None if optional_name else ...
        typ = Optional[Literal[name]] if optional_name else Literal[name]
        model = create_model(
            f"{kind}:{name}", __base__=comp.config,
            __doc__=comp.metadata.get("description") or comp.config.__doc__,
            name=(typ, Field(default, description=f"{kind} from plugin {comp.plugin!r}")))
        members.append(model)
    if not members:
        return Union[str, dict[str, Any]]
    # A bare name ("lenet5") is the short form of {name = "lenet5"}.
    shorthand = Literal[tuple(n if names.count(n) == 1 else c.qualified_name
                              for n, c in zip(names, comps))]  # type: ignore[misc]
    if len(members) == 1:
        return Union[shorthand, members[0]]
    if optional_name:
        return Union[(shorthand, *members)]  # type: ignore[return-value]
    tagged = pydantic.functional_validators.Annotated[Union[tuple(members)],  # type: ignore
                                                      Field(discriminator="name")]
    return Union[shorthand, tagged]


def task_config_schema(host: Host) -> dict[str, Any]:
    """The JSON Schema of ``TaskConfig`` where each component slot lists its choices."""
    host.load()
    model = create_model(
        "TaskConfig",
        __doc__="A visionhooks task: components by name with their parameters.",
        task=(_union(host, "task"), ...),
        model=(_union(host, "model"), ...),
        loss=(Optional[_union(host, "loss", True)], None),
        postprocess=(Optional[_union(host, "postprocessor", True)], None),
        metrics=(Optional[list[_union(host, "metric")]], None),
        augment=(list[_union(host, "augmentation")], []),
        optimizer=(OptimizerConfig, OptimizerConfig()),
        train=(TrainConfig, TrainConfig()),
        data=(Optional[_union(host, "dataset")], None),
        seed=(Optional[int], 0),
    )
    return model.model_json_schema()
