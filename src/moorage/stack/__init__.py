"""The stack: Moorage's locally built base image (stands in for ``python:3``)."""

from moorage.stack.builder import STACK_IMAGE, StackResult, build_stack, stack_present

__all__ = ["STACK_IMAGE", "StackResult", "build_stack", "stack_present"]
