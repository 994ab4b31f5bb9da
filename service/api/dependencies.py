"""Dependency providers: the app's long-lived objects, handed to the controllers."""

from __future__ import annotations

from litestar.datastructures import State

from service.pipeline.pipeline import Pipeline
from service.settings import Settings
from service.store.base import Documents


def provide_store(state: State) -> Documents:
    return state.store  # type: ignore[no-any-return]


def provide_pipeline(state: State) -> Pipeline:
    return state.pipeline  # type: ignore[no-any-return]


def provide_settings(state: State) -> Settings:
    return state.settings  # type: ignore[no-any-return]
