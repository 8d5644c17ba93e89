"""Forms of the publisher's pages."""

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.validators import UnicodeUsernameValidator

from distribution.models import ApiToken, Product, ProductRole, Release


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data, initial=None):
        single_clean = super().clean
        if isinstance(data, list | tuple):
            return [single_clean(item, initial) for item in data]
        return [single_clean(data, initial)] if data else []


class TagsField(forms.CharField):
    """Tags typed as one line, comma-separated; cleaned to their names (services check each)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 2000)
        kwargs.setdefault("help_text", "Comma-separated, e.g. linux, stable.")
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return ", ".join(str(tag) for tag in value)
        return value

    def clean(self, value) -> list[str]:
        text = super().clean(value)
        return [name.strip() for name in text.split(",") if name.strip()]


class ReleaseForm(forms.Form):
    product = forms.ModelChoiceField(
        queryset=Product.objects.none(), required=False, empty_label="— new product —"
    )
    new_product = forms.CharField(max_length=200, required=False, label="New product name")
    version = forms.CharField(max_length=100)
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False, help_text="Markdown.")
    tags = TagsField()
    visibility = forms.ChoiceField(choices=Release.Visibility.choices, initial=Release.Visibility.PUBLIC)
    audience = forms.ModelMultipleChoiceField(
        queryset=Group.objects.all(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Private releases only: the groups that may see it. None: every signed-in user. "
        "The product's publishers and staff always may.",
    )
    torrent_format = forms.ChoiceField(
        choices=Release.TorrentFormat.choices,
        initial=settings.FANOUT_TORRENT_FORMAT,
        help_text=(
            "v1 opens in every client; hybrid and v2 need a client built on libtorrent 2 or Transmission 4."
        ),
    )
    files = MultipleFileField(required=False, allow_empty_file=True, help_text="One or more files.")

    def __init__(self, *args, products, may_create_products: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["product"].queryset = products
        if not may_create_products:
            self.fields["product"].empty_label = None
            self.fields["new_product"].widget = forms.HiddenInput()

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("product") and not cleaned.get("new_product", "").strip():
            raise forms.ValidationError("Choose a product or name a new one.")
        if cleaned.get("audience") and cleaned.get("visibility") != Release.Visibility.PRIVATE:
            self.add_error("audience", "Only a private release has an audience.")
        return cleaned


class ReleaseDetailsForm(forms.Form):
    """What a release's publishers may change once it is made: its notes and tags."""

    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}), required=False, help_text="Markdown.")
    tags = TagsField()


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What it is for, e.g. the pipeline that uses it.")
    scope = forms.ChoiceField(
        choices=ApiToken.Scope.choices, initial=ApiToken.Scope.READ, widget=forms.RadioSelect
    )


class UserCreateForm(forms.Form):
    """A new account, made by staff."""

    username = forms.CharField(max_length=150, validators=[UnicodeUsernameValidator()])
    email = forms.EmailField(
        required=False,
        help_text="Where mail is sent, the user gets a link to choose a password; "
        "otherwise the page shows an initial password once.",
    )


class GroupCreateForm(forms.Form):
    name = forms.CharField(max_length=150, label="New group")


class UsernameForm(forms.Form):
    """Someone named by their user name, as a maintainer knows them (the list of users is staff's)."""

    username = forms.CharField(max_length=150, label="User name")

    def clean_username(self):
        user = get_user_model().objects.filter(username=self.cleaned_data["username"].strip()).first()
        if user is None:
            raise forms.ValidationError("No such user.")
        return user


class RoleGrantForm(UsernameForm):
    role = forms.ChoiceField(choices=ProductRole.Role.choices, initial=ProductRole.Role.PUBLISHER)
