"""DICOM files with a distinctive canary in every attribute that the DICOM Basic Application
Level Confidentiality Profile (PS3.15 Annex E, Table E.1-1) names, plus private tags.

The list below is written from the standard, independently of senolab/imaging/deid.py, so that
the test checks the de-identification rather than restating it. Attributes whose value cannot be
made distinctive (a sex code, an age string, binary VRs) are filled but not searched for.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

MG_STORAGE = "1.2.840.10008.5.1.4.1.1.1.2"  # Digital Mammography X-Ray Image Storage - Presentation
UID_ROOT = "1.2.826.0.1.3680043.10.543."
# Canary dates are one day apart, all within 300 days: the Retain Longitudinal Temporal
# Information option shifts dates by a per-patient offset, and a shifted canary must never land
# on another canary's date (which would read as a leak). Offsets under a year could still; the
# test drops the few dates a known offset explains (tests/security/test_phi_canaries.py).
CANARY_DAY_ONE = dt.date(1931, 2, 1)

BASIC_PROFILE = """
AccessionNumber AcquisitionComments AcquisitionContextSequence AcquisitionDate
AcquisitionDateTime AcquisitionDeviceProcessingDescription AcquisitionProtocolDescription
AcquisitionTime ActualHumanPerformersSequence AdditionalPatientHistory AdmissionID AdmittingDate
AdmittingDiagnosesCodeSequence AdmittingDiagnosesDescription AdmittingTime Allergies
AuthorObserverSequence BranchOfService CassetteID CommentsOnThePerformedProcedureStep
ConcatenationUID ConfidentialityConstraintOnPatientDataDescription ContentCreatorName
ContentDate ContentTime ContrastBolusAgent ContributionDescription CountryOfResidence
CreatorVersionUID CurrentPatientLocation CurveDate CurveTime CustodialOrganizationSequence
DerivationDescription DetectorID DeviceSerialNumber DeviceUID DigitalSignatureUID
DimensionOrganizationUID DischargeDiagnosisDescription DistributionAddress DistributionName
DoseReferenceUID EthnicGroup FillerOrderNumberImagingServiceRequest FrameComments
FrameOfReferenceUID GantryID GeneratorID HumanPerformerName HumanPerformerOrganization
IdentifyingComments ImageComments ImagePresentationComments ImagingServiceRequestComments
Impressions InstanceCreationDate InstanceCreationTime InstanceCreatorUID InstitutionAddress
InstitutionCodeSequence InstitutionName InstitutionalDepartmentName InsurancePlanIdentification
IntendedRecipientsOfResultsIdentificationSequence InterpretationApproverSequence
InterpretationAuthor InterpretationDiagnosisDescription InterpretationIDIssuer
InterpretationRecorder InterpretationText InterpretationTranscriber IrradiationEventUID
IssuerOfAdmissionID IssuerOfPatientID IssuerOfServiceEpisodeID
LargePaletteColorLookupTableUID MedicalAlerts MedicalRecordLocator MilitaryRank
ModifiedImageDescription ModifyingDeviceID NameOfPhysiciansReadingStudy
NamesOfIntendedRecipientsOfResults Occupation OperatorIdentificationSequence OperatorsName
OrderCallbackPhoneNumber OrderEnteredBy OrderEntererLocation OtherPatientIDs
OtherPatientIDsSequence OtherPatientNames OverlayComments OverlayDate OverlayTime
PaletteColorLookupTableUID ParticipantSequence PatientAddress PatientAge PatientBirthDate
PatientBirthName PatientBirthTime PatientComments PatientID PatientInsurancePlanCodeSequence
PatientMotherBirthName PatientName PatientPrimaryLanguageCodeSequence
PatientReligiousPreference PatientSex PatientSexNeutered PatientSize PatientState
PatientTelephoneNumbers PatientTransportArrangements PatientWeight PerformedLocation
PerformedProcedureStepDescription PerformedProcedureStepEndDate PerformedProcedureStepEndTime
PerformedProcedureStepID PerformedProcedureStepStartDate PerformedProcedureStepStartTime
PerformedStationAETitle PerformedStationGeographicLocationCodeSequence PerformedStationName
PerformedStationNameCodeSequence PerformingPhysicianIdentificationSequence
PerformingPhysicianName PersonAddress PersonIdentificationCodeSequence PersonName
PersonTelephoneNumbers PhysicianApprovingInterpretation
PhysiciansOfRecord PhysiciansOfRecordIdentificationSequence
PhysiciansReadingStudyIdentificationSequence PlacerOrderNumberImagingServiceRequest PlateID
PreMedication ProtocolName ReasonForStudy ReasonForTheRequestedProcedure
ReferencedFrameOfReferenceUID ReferencedImageSequence ReferencedPatientAliasSequence
ReferencedPatientSequence ReferencedPerformedProcedureStepSequence ReferencedSOPInstanceUID
ReferencedStudySequence ReferringPhysicianAddress ReferringPhysicianIdentificationSequence
ReferringPhysicianName ReferringPhysicianTelephoneNumbers RegionOfResidence
RelatedFrameOfReferenceUID RequestAttributesSequence RequestedContrastAgent
RequestedProcedureComments RequestedProcedureDescription RequestedProcedureID
RequestedProcedureLocation RequestedSOPInstanceUID RequestingPhysician RequestingService
ResponsibleOrganization ResponsiblePerson ResultsComments ResultsDistributionListSequence
ResultsIDIssuer ReviewerName ScheduledHumanPerformersSequence
ScheduledPatientInstitutionResidence ScheduledPerformingPhysicianIdentificationSequence
ScheduledPerformingPhysicianName ScheduledProcedureStepDescription
ScheduledProcedureStepEndDate ScheduledProcedureStepEndTime ScheduledProcedureStepLocation
ScheduledProcedureStepStartDate ScheduledProcedureStepStartTime ScheduledStationAETitle
ScheduledStationGeographicLocationCodeSequence ScheduledStationName
ScheduledStationNameCodeSequence ScheduledStudyLocation ScheduledStudyLocationAETitle
SeriesDate SeriesDescription SeriesInstanceUID SeriesTime ServiceEpisodeDescription
ServiceEpisodeID SmokingStatus SOPInstanceUID SourceImageSequence SpecialNeeds StationName
StorageMediaFileSetUID StudyComments StudyDate StudyDescription StudyID StudyIDIssuer
StudyInstanceUID StudyTime SynchronizationFrameOfReferenceUID TemplateExtensionCreatorUID
TemplateExtensionOrganizationUID TextComments TextString TimezoneOffsetFromUTC TopicAuthor
TopicKeywords TopicSubject TopicTitle TransactionUID UID VerifyingObserverIdentificationCodeSequence
VerifyingObserverName VerifyingObserverSequence VerifyingOrganization VisitComments
""".split()

# Values that cannot be distinctive: filled, not searched for.
UNSEARCHABLE_VRS = {"AS", "US", "SS", "UL", "SL", "FL", "FD", "OB", "OW", "UN", "AT", "OF", "OD"}
UNSEARCHABLE_KEYWORDS = {"PatientSex", "PatientSexNeutered", "SmokingStatus", "EthnicGroup"}


@dataclass
class CanaryFile:
    """What one generated file carries: its path and every string that must not come back."""

    path: Path
    canaries: dict[str, str] = field(default_factory=dict)  # value -> the attribute it sits in
    patient_id: str = ""


def known_profile_keywords() -> list[str]:
    """The profile's attributes that pydicom's dictionary knows (a few are retired/unknown)."""
    # Group 0000 (command) and 0002 (file meta) elements do not belong in a data set.
    return [k for k in BASIC_PROFILE if (tag_for_keyword(k) or 0) >> 16 not in (0, 2)]


def canary_value(vr: str, n: int, run: str) -> tuple[object, list[str]]:
    """A valid value for the VR carrying canary number n, and the strings to search for."""
    text = f"QZ{run}{n:03d}CNRY"  # fits SH/CS/AE (16 chars), upper case for CS
    if vr == "PN":
        return f"{text}^GIVEN{n:03d}", [text]
    if vr == "DA":
        day = CANARY_DAY_ONE + dt.timedelta(days=n)
        return day.strftime("%Y%m%d"), [day.strftime("%Y%m%d"), day.isoformat()]
    if vr == "TM":
        value = f"{(n % 13) + 7:02d}{n % 60:02d}{(n * 7) % 60:02d}.{n:03d}{int(run, 36) % 1000:03d}"
        return value, [value]
    if vr == "DT":
        day = CANARY_DAY_ONE + dt.timedelta(days=n)
        value = day.strftime("%Y%m%d") + f"{(n % 13) + 7:02d}1213"
        return value, [value]
    if vr == "UI":
        value = f"{UID_ROOT}{int(run, 36)}.{n}"
        return value, [value]
    if vr == "IS":
        value = str(7_770_000 + n)
        return value, [value]
    if vr == "DS":
        value = f"{n}.{1337 + int(run, 36) % 1000}"
        return value, [value]
    if vr == "AS":
        return "061Y", []
    if vr in ("US", "SS", "UL", "SL"):
        return 1, []
    if vr in ("FL", "FD"):
        return 1.0, []
    if vr in UNSEARCHABLE_VRS:
        return b"\x00\x01", []
    return text, [text]  # LO SH LT ST UT UC CS AE UR


def _code_item(n: int, run: str) -> tuple[Dataset, list[str]]:
    item = Dataset()
    text = f"QZ{run}{n:03d}CNRY"
    item.CodeValue = text
    item.CodingSchemeDesignator = "99QZ"
    item.CodeMeaning = f"{text} meaning"
    item.PersonName = f"{text}^NESTED"
    return item, [text]


def canary_dataset(run: str, *, burned_in: bool = False) -> tuple[Dataset, dict[str, str], str]:
    """A small uncompressed MG image with every profile attribute set to a canary."""
    ds = Dataset()
    found: dict[str, str] = {}
    for n, keyword in enumerate(known_profile_keywords(), start=1):
        vr = dictionary_VR(tag_for_keyword(keyword)).split(" or ")[0]
        if vr == "SQ":
            item, strings = _code_item(n, run)
            setattr(ds, keyword, [item])
        else:
            value, strings = canary_value(vr, n, run)
            if keyword in UNSEARCHABLE_KEYWORDS:
                strings = []
            setattr(ds, keyword, value)
        for s in strings:
            found[s] = keyword
    # Private tags: a vendor block with a canary creator and value.
    block = ds.private_block(0x0009, f"QZ{run}PRIVATE", create=True)
    block.add_new(0x10, "LO", f"QZ{run}999CNRY")
    found[f"QZ{run}999CNRY"] = "private (0009,xx10)"
    found[f"QZ{run}PRIVATE"] = "private creator (0009,0010)"
    ds.PatientSex = "F"
    ds.Modality = "MG"
    ds.SOPClassUID = MG_STORAGE
    ds.ImageLaterality = "L"
    ds.ViewPosition = "CC"
    ds.BurnedInAnnotation = "YES" if burned_in else "NO"
    pixels = (np.arange(32 * 24, dtype=np.uint16).reshape(32, 24) * 5) % 4096
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = pixels.tobytes()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = MG_STORAGE
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.ImplementationClassUID = generate_uid()
    return ds, found, str(ds.PatientID)


def write_canary_files(folder: Path, run: str) -> list[CanaryFile]:
    """One ordinary file and one flagged with burned-in annotation; the file names carry
    canaries too (a name must never be stored or logged)."""
    files = []
    for kind, burned in (("plain", False), ("burned", True)):
        ds, found, patient_id = canary_dataset(run + ("B" if burned else "P"), burned_in=burned)
        name = f"QZ{run}NAME{kind}.dcm"
        path = folder / name
        ds.save_as(path, enforce_file_format=True)
        found[f"QZ{run}NAME{kind}"] = "file name"
        files.append(CanaryFile(path, found, patient_id))
    return files
