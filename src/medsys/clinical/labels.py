"""What staff read on screen for the records' FHIR-style codes (Spanish, Chile)."""

from __future__ import annotations

STATUS = {
    "planned": "programada",
    "in-progress": "en curso",
    "finished": "cerrada",
    "cancelled": "anulada",
    "entered-in-error": "ingresado por error",
    "confirmed": "confirmado",
    "refuted": "descartado",
    "active": "activo",
    "stopped": "suspendido",
    "completed": "completado",
}
ROLE = {"doctor": "médico(a)", "nurse": "enfermería", "patient": "paciente", "service": "servicio"}
ACTION = {"read": "vio", "create": "registró", "update": "modificó", "close": "cerró"}
RESOURCE = {
    "chart": "la ficha",
    "consultation": "una consulta",
    "clinical-history": "el historial",
    "diagnosis": "un diagnóstico",
    "treatment": "una indicación",
    "observation": "signos o notas",
    "allergy": "una alergia",
    "visit": "la visita",
    "document-receta": "una receta",
    "document-certificado": "un certificado",
}


def status(code: str | None) -> str:
    return STATUS.get(code or "", code or "")


def role(code: str | None) -> str:
    return ROLE.get(code or "", code or "")


def access(action: str | None, resource: str | None) -> str:
    """'read' + 'chart' → 'vio la ficha'; refusals and unknown words pass through."""
    verb = ACTION.get(action or "", action or "")
    return f"{verb} {RESOURCE.get(resource or '', resource or '')}".strip()
