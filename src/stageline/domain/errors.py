"""Errors the domain and services raise, named by AWS's exception codes.

The adapters translate them: the AWS layer into `{"__type": code, "message": ...}` with
`X-Amzn-ErrorType`, the REST layer into a JSON problem body. Codes are AWS's own so that no
layer needs a mapping table.
"""

from __future__ import annotations


class ServiceError(Exception):
    """A client-visible failure with AWS's error code and an HTTP status."""

    code: str = "ValidationException"
    status: int = 400

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def _error(code: str, status: int = 400) -> type[ServiceError]:
    return type(code, (ServiceError,), {"code": code, "status": status})


ValidationException = _error("ValidationException")
InvalidStructureException = _error("InvalidStructureException")
InvalidStageDeclarationException = _error("InvalidStageDeclarationException")
InvalidActionDeclarationException = _error("InvalidActionDeclarationException")
InvalidBlockerDeclarationException = _error("InvalidBlockerDeclarationException")
LimitExceededException = _error("LimitExceededException")
PipelineNameInUseException = _error("PipelineNameInUseException")
PipelineNotFoundException = _error("PipelineNotFoundException")
PipelineVersionNotFoundException = _error("PipelineVersionNotFoundException")
ActionTypeNotFoundException = _error("ActionTypeNotFoundException")
InvalidNextTokenException = _error("InvalidNextTokenException")
InvalidArnException = _error("InvalidArnException")
InvalidTagsException = _error("InvalidTagsException")
TooManyTagsException = _error("TooManyTagsException")
ResourceNotFoundException = _error("ResourceNotFoundException")
ConcurrentModificationException = _error("ConcurrentModificationException")
ConflictException = _error("ConflictException")
PipelineExecutionNotFoundException = _error("PipelineExecutionNotFoundException")
PipelineExecutionNotStoppableException = _error("PipelineExecutionNotStoppableException")
DuplicatedStopRequestException = _error("DuplicatedStopRequestException")
StageNotFoundException = _error("StageNotFoundException")
ActionNotFoundException = _error("ActionNotFoundException")
StageNotRetryableException = _error("StageNotRetryableException")
NotLatestPipelineExecutionException = _error("NotLatestPipelineExecutionException")
InvalidApprovalTokenException = _error("InvalidApprovalTokenException")
ApprovalAlreadyCompletedException = _error("ApprovalAlreadyCompletedException")
ActionExecutionNotFoundException = _error("ActionExecutionNotFoundException")
# CodeBuild's own codes.
InvalidInputException = _error("InvalidInputException")
ResourceAlreadyExistsException = _error("ResourceAlreadyExistsException")
AccountLimitExceededException = _error("AccountLimitExceededException")
# The job protocol's.
JobNotFoundException = _error("JobNotFoundException")
InvalidNonceException = _error("InvalidNonceException")
InvalidJobStateException = _error("InvalidJobStateException")
InvalidClientTokenException = _error("InvalidClientTokenException")
OutputVariablesSizeExceededException = _error("OutputVariablesSizeExceededException")
