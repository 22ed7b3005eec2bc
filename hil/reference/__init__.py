"""The reference controller: the executable specification of the firmware (docs/controller.md)."""

from hil.reference.controller import CommandOutput, ReferenceController, SensorInput

__all__ = ["CommandOutput", "ReferenceController", "SensorInput"]
