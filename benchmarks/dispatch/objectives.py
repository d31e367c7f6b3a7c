"""Objectives of the dispatch benchmark (a module, so raw executors and workers import the same ones)."""

from __future__ import annotations

import asyncio
import time


def noop(config: dict) -> float:
    return 1.0


def sleep50(config: dict) -> float:
    time.sleep(0.05)
    return 1.0


def hang(config: dict) -> float:
    time.sleep(60)
    return 1.0


async def async_noop(config: dict) -> float:
    return 1.0


async def async_sleep50(config: dict) -> float:
    await asyncio.sleep(0.05)
    return 1.0


async def async_hang(config: dict) -> float:
    await asyncio.sleep(60)
    return 1.0
